package dev.ibex.engine.runtime;

import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.round.RoundReport;
import dev.ibex.engine.round.RoundService;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * One sync's schedule: a single-shot timer re-armed after each round (so two rounds of a sync
 * never overlap), kicks that start a round at once (or right after the one in flight), pause by
 * configuration, and exponential backoff after failed rounds. The round itself runs on the
 * blocking dispatcher and comes back with {@code pipeToSelf}. Holds no data, only schedule state.
 */
final class SyncActor {
    interface Command {
    }

    record Tick() implements Command {
    }

    record Kick() implements Command {
    }

    record Update(SyncSettings settings) implements Command {
    }

    record Stop() implements Command {
    }

    private record Done(RoundReport report, Throwable failure) implements Command {
    }

    static final Duration MAX_BACKOFF = Duration.ofSeconds(30);

    private final ActorContext<Command> ctx;
    private final TimerScheduler<Command> timers;
    private final RoundService rounds;
    private final Executor blocking;
    private SyncSettings settings;
    private boolean running;
    private boolean again;
    private boolean stopping;
    private int failures;

    private SyncActor(ActorContext<Command> ctx, TimerScheduler<Command> timers, RoundService rounds, Executor blocking,
                      SyncSettings settings) {
        this.ctx = ctx;
        this.timers = timers;
        this.rounds = rounds;
        this.blocking = blocking;
        this.settings = settings;
    }

    static Behavior<Command> create(RoundService rounds, Executor blocking, SyncSettings settings) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            SyncActor a = new SyncActor(ctx, timers, rounds, blocking, settings);
            ctx.getSelf().tell(new Tick());
            return a.behavior();
        }));
    }

    private Behavior<Command> behavior() {
        return Behaviors.receive(Command.class)
                .onMessage(Tick.class, m -> start())
                .onMessage(Kick.class, m -> start())
                .onMessage(Update.class, m -> {
                    settings = m.settings();
                    return Behaviors.same();
                })
                .onMessage(Done.class, this::done)
                .onMessage(Stop.class, m -> {
                    stopping = true;
                    return running ? Behaviors.same() : Behaviors.stopped();
                })
                .build();
    }

    private Behavior<Command> start() {
        if (stopping) {
            return Behaviors.same();
        }
        if (running) {
            again = true;
            return Behaviors.same();
        }
        if (settings.paused()) {
            timers.startSingleTimer("tick", new Tick(), settings.interval());
            return Behaviors.same();
        }
        running = true;
        again = false;
        timers.cancel("tick");
        String name = settings.name();
        ctx.pipeToSelf(CompletableFuture.supplyAsync(() -> rounds.runIfActive(name).orElse(null), blocking), Done::new);
        return Behaviors.same();
    }

    private Behavior<Command> done(Done d) {
        running = false;
        if (stopping) {
            return Behaviors.stopped();
        }
        // a partial round (a node down, a table paused) replicated among the others: no backoff for them
        boolean failed = d.failure() != null || (d.report() != null && "failed".equals(d.report().outcome()));
        if (d.failure() != null) {
            ctx.getLog().warn("sync {}: round failed: {}", settings.name(), FailureText.of(d.failure()));
        } else if (d.report() != null && !d.report().errors().isEmpty()) {
            ctx.getLog().warn("sync {}: round finished with errors: {}", settings.name(), d.report().errors());
        }
        if (d.report() != null) {
            ctx.getLog().debug("sync {}: round {} in {} ms: {} keys decided, {} rows applied, {} conflicts, more work: {}",
                    settings.name(), d.report().outcome(), d.report().duration().toMillis(), d.report().keysDecided(),
                    d.report().rowsApplied(), d.report().conflicts(), d.report().moreWork());
        }
        failures = failed ? failures + 1 : 0;
        Duration next = Pacing.nextDelay(settings.interval(), failures, again || (d.report() != null && d.report().moreWork()),
                MAX_BACKOFF);
        timers.startSingleTimer("tick", new Tick(), next);
        return Behaviors.same();
    }
}
