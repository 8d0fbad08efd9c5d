package dev.ibex.engine.runtime;

import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.round.RoundService;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * Supervises one {@link SyncActor} per configured sync: reloads the configuration every second
 * (starting, updating and stopping sync actors as syncs come, change and go), routes wake-ups
 * and kicks, and on stop waits for every sync's round in flight before stopping itself. One read
 * of the configuration at a time: the next is scheduled when the last one is done, and while the
 * control database cannot be read each failure is logged in one line and the reads back off
 * (up to {@link #MAX_BACKOFF}); the sync actors keep their settings meanwhile.
 */
final class Guardian {
    interface Command {
    }

    record Wake(String sync) implements Command {
    }

    record Stop() implements Command {
    }

    private record Reload() implements Command {
    }

    private record Loaded(List<SyncSettings> syncs, Throwable failure) implements Command {
    }

    static final Duration RELOAD_EVERY = Duration.ofSeconds(1);
    static final Duration MAX_BACKOFF = Duration.ofSeconds(10);

    private final ActorContext<Command> ctx;
    private final ControlStore control;
    private final RoundService rounds;
    private final Executor blocking;
    private final Consumer<String> onStop;
    private final Map<String, ActorRef<SyncActor.Command>> syncs = new HashMap<>();
    private boolean stopping;
    private long spawned;
    private int failures;

    private Guardian(ActorContext<Command> ctx, ControlStore control, RoundService rounds, Executor blocking,
                     Consumer<String> onStop) {
        this.ctx = ctx;
        this.onStop = onStop;
        this.control = control;
        this.rounds = rounds;
        this.blocking = blocking;
    }

    /**
     * @param dispatcher the configured dispatcher on which blocking JDBC runs
     * @param onStop     told, per sync, what became of its round in flight when the engine stopped
     */
    static Behavior<Command> create(ControlStore control, RoundService rounds, String dispatcher, Consumer<String> onStop) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            Executor blocking = ctx.getSystem().dispatchers().lookup(
                    org.apache.pekko.actor.typed.DispatcherSelector.fromConfig(dispatcher));
            Guardian g = new Guardian(ctx, control, rounds, blocking, onStop);
            ctx.getSelf().tell(new Reload());
            return g.behavior(timers);
        }));
    }

    private Behavior<Command> behavior(TimerScheduler<Command> timers) {
        return Behaviors.receive(Command.class)
                .onMessage(Reload.class, m -> {
                    ctx.pipeToSelf(CompletableFuture.supplyAsync(control::syncs, blocking), Loaded::new);
                    return Behaviors.same();
                })
                .onMessage(Loaded.class, m -> loaded(m, timers))
                .onMessage(Wake.class, m -> {
                    ActorRef<SyncActor.Command> a = syncs.get(m.sync());
                    if (a != null) {
                        a.tell(new SyncActor.Kick());
                    }
                    return Behaviors.same();
                })
                .onMessage(Stop.class, m -> {
                    stopping = true;
                    timers.cancelAll();
                    syncs.values().forEach(a -> a.tell(new SyncActor.Stop()));
                    return syncs.isEmpty() ? Behaviors.stopped() : Behaviors.same();
                })
                .onSignal(Terminated.class, t -> {
                    syncs.values().removeIf(a -> a.equals(t.getRef()));
                    return stopping && syncs.isEmpty() ? Behaviors.stopped() : Behaviors.same();
                })
                .build();
    }

    private Behavior<Command> loaded(Loaded m, TimerScheduler<Command> timers) {
        if (stopping) {
            return Behaviors.same();
        }
        if (m.failure() != null) {
            failures++;
            Duration next = Pacing.nextDelay(RELOAD_EVERY, failures, false, false, MAX_BACKOFF);
            ctx.getLog().warn("cannot read the configuration from the control database (attempt {}, next in {} s): {}",
                    failures, next.toSeconds(), FailureText.of(m.failure()));
            timers.startSingleTimer("reload", new Reload(), next);
            return Behaviors.same();
        }
        if (failures > 0) {
            ctx.getLog().warn("control database reachable again after {} failed attempt(s); configuration read", failures);
            failures = 0;
        }
        timers.startSingleTimer("reload", new Reload(), RELOAD_EVERY);
        Map<String, SyncSettings> now = new HashMap<>();
        m.syncs().forEach(s -> now.put(s.name(), s));
        for (SyncSettings s : now.values()) {
            ActorRef<SyncActor.Command> a = syncs.get(s.name());
            if (a == null) {
                a = ctx.spawn(SyncActor.create(rounds, blocking, s, onStop), "sync-" + (++spawned) + "-"
                        + java.net.URLEncoder.encode(s.name(), java.nio.charset.StandardCharsets.UTF_8));
                ctx.watch(a);
                syncs.put(s.name(), a);
            } else {
                a.tell(new SyncActor.Update(s));
            }
        }
        syncs.entrySet().removeIf(e -> {
            if (!now.containsKey(e.getKey())) {
                e.getValue().tell(new SyncActor.Stop());
                return true;
            }
            return false;
        });
        return Behaviors.same();
    }
}
