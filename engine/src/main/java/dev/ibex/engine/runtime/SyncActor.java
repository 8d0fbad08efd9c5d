package dev.ibex.engine.runtime;

import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.round.RoundReport;
import dev.ibex.engine.round.RoundRunner;
import dev.ibex.engine.round.RoundService;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
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
    private final Consumer<String> onStop;
    private SyncSettings settings;
    private boolean running;
    private boolean again;
    private boolean stopping;
    private int failures;

    private SyncActor(ActorContext<Command> ctx, TimerScheduler<Command> timers, RoundService rounds, Executor blocking,
                      SyncSettings settings, Consumer<String> onStop) {
        this.ctx = ctx;
        this.onStop = onStop;
        this.timers = timers;
        this.rounds = rounds;
        this.blocking = blocking;
        this.settings = settings;
    }

    /** @param onStop told, when the actor stops, what became of the round it had in flight */
    static Behavior<Command> create(RoundService rounds, Executor blocking, SyncSettings settings, Consumer<String> onStop) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            SyncActor a = new SyncActor(ctx, timers, rounds, blocking, settings, onStop);
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
                    if (running) {
                        return Behaviors.same();
                    }
                    onStop.accept("sync " + settings.name() + ": no round in flight");
                    return Behaviors.stopped();
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
            onStop.accept(stopped(d));
            return Behaviors.stopped();
        }
        // a partial round (a node down, a table paused) replicated among the others: no backoff for them; but a table
        // some target did not fully take (a lock timeout, a dropped connection, rows an application held locked) is
        // retried soon, not after the interval
        boolean failed = d.failure() != null
                || (d.report() != null && ("failed".equals(d.report().outcome()) || d.report().tablesLeftBehind() > 0));
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
        Duration next = Pacing.nextDelay(settings.interval(), failures, again, d.report() != null && d.report().moreWork(), MAX_BACKOFF);
        timers.startSingleTimer("tick", new Tick(), next);
        return Behaviors.same();
    }

    /** What the stop did to the round that was in flight: finished, or ended at a chunk boundary. */
    private String stopped(Done d) {
        String sync = "sync " + settings.name() + ": ";
        if (d.failure() != null) {
            return sync + "the round in flight failed (its open transaction rolled back): " + d.failure();
        }
        if (d.report() == null) {
            return sync + "no round in flight";
        }
        List<String> cut = d.report().errors().stream().filter(e -> e.startsWith(RoundRunner.STOPPED)).toList();
        return cut.isEmpty() ? sync + "the round in flight finished (" + d.report().rowsApplied() + " rows applied)"
                : sync + "the round in flight was cut short at a chunk boundary (" + d.report().rowsApplied()
                + " rows applied, nothing half-applied): " + String.join("; ", cut);
    }
}
