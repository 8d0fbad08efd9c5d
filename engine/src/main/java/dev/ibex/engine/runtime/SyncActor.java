package dev.ibex.engine.runtime;

import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.fence.Fence;
import dev.ibex.engine.fence.Ownership;
import dev.ibex.engine.round.RoundOutcome;
import dev.ibex.engine.round.RoundReport;
import dev.ibex.engine.runtime.RoundService;
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
 * blocking dispatcher and comes back with {@code pipeToSelf}. Before its first round it takes the
 * sync ({@link Ownership}); it gives it up when it stops, and stops running it when a fence
 * refuses its writes. Holds no data, only schedule state and the sync's {@link Fence}.
 *
 * <p>In a cluster it is the sync's Cluster Sharding entity: it waits for its settings from its
 * engine's guardian, and {@link Stop} is its hand-off message (the round in flight ends first).
 */
final class SyncActor {
    interface Command {
    }

    /** Messages that never leave the engine's JVM. */
    interface Local extends Command, org.apache.pekko.actor.NoSerializationVerificationNeeded {
    }

    record Tick() implements Local {
    }

    record Kick() implements Local {
    }

    record Update(SyncSettings settings) implements Local {
    }

    record Stop() implements Local {
    }

    /** From any engine's guardian, through Cluster Sharding: the sync exists, its entity must run somewhere. */
    record Ensure(String sync) implements Command, ClusterMessage {
    }

    private record Done(Outcome outcome, Throwable failure) implements Local {
        RoundReport report() {
            return outcome == null ? null : outcome.report();
        }
    }

    /**
     * What a turn did: the fence it ran with and its round; or, when it did not take the sync, the
     * owner it left it to and why.
     */
    private record Outcome(Fence fence, RoundReport report, String owner, String why) {
    }

    static final Duration MAX_BACKOFF = Duration.ofSeconds(30);

    private final ActorContext<Command> ctx;
    private final TimerScheduler<Command> timers;
    private final RoundService rounds;
    private final Executor blocking;
    private final Consumer<String> onStop;
    private final Claim claim;
    private final String name;
    /** Null until the guardian sends them (an entity starts with its name only). */
    private SyncSettings settings;
    /** The epoch this engine owns the sync at; null until it takes the sync, and again once fenced. */
    private Fence fence;
    private String ownerElsewhere;
    private boolean running;
    private boolean again;
    private boolean stopping;
    private int failures;

    private SyncActor(ActorContext<Command> ctx, TimerScheduler<Command> timers, RoundService rounds, Executor blocking,
                      String name, SyncSettings settings, Consumer<String> onStop, Claim claim) {
        this.ctx = ctx;
        this.name = name;
        this.claim = claim;
        this.onStop = onStop;
        this.timers = timers;
        this.rounds = rounds;
        this.blocking = blocking;
        this.settings = settings;
    }

    /**
     * @param onStop told, when the actor stops, what became of the round it had in flight
     * @param claim  how this engine takes the sync: its name, and which other owners it must leave it to
     */
    static Behavior<Command> create(RoundService rounds, Executor blocking, SyncSettings settings, Consumer<String> onStop,
                                    Claim claim) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            SyncActor a = new SyncActor(ctx, timers, rounds, blocking, settings.name(), settings, onStop, claim);
            ctx.getSelf().tell(new Tick());
            return a.behavior();
        }));
    }

    /**
     * The sync's Cluster Sharding entity: tells {@code guardian} it runs here and starts with the
     * settings the guardian sends back.
     */
    static Behavior<Command> entity(RoundService rounds, Executor blocking, String name, Consumer<String> onStop, Claim claim,
                                    org.apache.pekko.actor.typed.ActorRef<Guardian.Command> guardian) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            SyncActor a = new SyncActor(ctx, timers, rounds, blocking, name, null, onStop, claim);
            guardian.tell(new Guardian.EntityStarted(name, ctx.getSelf()));
            return a.behavior();
        }));
    }

    private Behavior<Command> behavior() {
        return Behaviors.receive(Command.class)
                .onMessage(Tick.class, m -> start())
                .onMessage(Kick.class, m -> start())
                .onMessage(Update.class, m -> {
                    boolean first = settings == null;
                    settings = m.settings();
                    return first ? start() : Behaviors.same();
                })
                .onMessage(Ensure.class, m -> Behaviors.same())
                .onMessage(Done.class, this::done)
                .onMessage(Stop.class, m -> {
                    stopping = true;
                    if (running) {
                        return Behaviors.same();
                    }
                    release();
                    onStop.accept("sync " + name + ": no round in flight");
                    return Behaviors.stopped();
                })
                .build();
    }

    private Behavior<Command> start() {
        if (stopping || settings == null) {
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
        Fence held = fence;
        ctx.pipeToSelf(CompletableFuture.supplyAsync(() -> turn(name, held), blocking), Done::new);
        return Behaviors.same();
    }

    /** Takes the sync if this engine does not own it yet (and may), then runs a round; blocking. */
    private Outcome turn(String name, Fence held) {
        Fence f = held;
        if (f == null) {
            if (!claim.settled().getAsBoolean()) {
                return new Outcome(null, null, owner(name), "this engine does not see every other engine of the cluster now");
            }
            java.util.Optional<Fence> taken = rounds.ownership().take(name, claim.engine(), claim.ownerStillRuns());
            if (taken.isEmpty()) {
                return new Outcome(null, null, owner(name), "its owner still runs it");
            }
            f = taken.get();
        }
        try {
            return new Outcome(f, rounds.runIfActive(f).orElse(null), null, null);
        } catch (RuntimeException e) {
            throw new java.util.concurrent.CompletionException(new Turned(f, e));
        }
    }

    private String owner(String sync) {
        return rounds.ownership().owner(sync).map(Ownership.Owner::engine).orElse(null);
    }

    /** A round that failed, with the fence it ran with. */
    private static final class Turned extends RuntimeException {
        final Fence fence;

        Turned(Fence fence, RuntimeException cause) {
            super(cause);
            this.fence = fence;
        }
    }

    private Behavior<Command> done(Done raw) {
        running = false;
        Done d = unwrap(raw);
        if (stopping) {
            release();
            onStop.accept(stopped(d));
            return Behaviors.stopped();
        }
        if (d.failure() != null && Fence.rejected(d.failure())) {
            fenced(d.failure());
            timers.startSingleTimer("tick", new Tick(), settings.interval());
            return Behaviors.same();
        }
        if (d.outcome() != null && d.outcome().fence() == null) {
            if (!java.util.Objects.equals(ownerElsewhere, d.outcome().owner())) {
                ctx.getLog().info("sync {}: not taken (owner: {}): {}", name, d.outcome().owner(), d.outcome().why());
                ownerElsewhere = d.outcome().owner();
            }
            timers.startSingleTimer("tick", new Tick(), settings.interval());
            return Behaviors.same();
        }
        // a partial round (a node down, a table paused) replicated among the others: no backoff for them; but a table
        // some target did not fully take (a lock timeout, a dropped connection, rows an application held locked) is
        // retried soon, not after the interval
        boolean failed = d.failure() != null
                || (d.report() != null && (d.report().outcome() == RoundOutcome.FAILED || d.report().tablesLeftBehind() > 0));
        if (d.failure() != null) {
            ctx.getLog().warn("sync {}: round failed: {}", name, FailureText.of(d.failure()));
        } else if (d.report() != null && !d.report().errors().isEmpty()) {
            ctx.getLog().warn("sync {}: round finished with errors: {}", name, d.report().errors());
        }
        if (d.report() != null) {
            ctx.getLog().debug("sync {}: round {} in {} ms: {} keys decided, {} rows applied, {} conflicts, more work: {}",
                    name, d.report().outcome().label(), d.report().duration().toMillis(), d.report().keysDecided(),
                    d.report().rowsApplied(), d.report().conflicts(), d.report().moreWork());
        }
        failures = failed ? failures + 1 : 0;
        Duration next = Pacing.nextDelay(settings.interval(), failures, again, d.report() != null && d.report().moreWork(), MAX_BACKOFF);
        timers.startSingleTimer("tick", new Tick(), next);
        return Behaviors.same();
    }

    /** The turn's outcome with its failure unwrapped; remembers the fence the turn ran with. */
    private Done unwrap(Done d) {
        Throwable f = d.failure();
        while (f instanceof java.util.concurrent.CompletionException && f.getCause() != null) {
            f = f.getCause();
        }
        if (f instanceof Turned t) {
            fence = t.fence;
            return new Done(null, t.getCause());
        }
        if (d.outcome() != null) {
            Fence before = fence;
            fence = d.outcome().fence();
            if (fence != null && before == null) {
                ctx.getLog().info("sync {}: this engine owns it now, at epoch {}", name, fence.epoch());
                ownerElsewhere = null;
            }
        }
        return new Done(d.outcome(), f);
    }

    /** Another engine took the sync: this one commits nothing more for it, says so, and counts it. */
    private void fenced(Throwable failure) {
        String why = FailureText.of(failure);
        ctx.getLog().warn("sync {}: fence rejected this engine's write (epoch {}), the sync has another owner now: {}", name,
                fence == null ? "?" : fence.epoch(), why);
        fence = null;
        CompletableFuture.runAsync(() -> rounds.ownership().recordRejection(name, why), blocking).exceptionally(e -> null);
        claim.rejections().run();
    }

    /** Gives the sync up when the actor stops (the engine stops, or hands the sync over); best effort. */
    private void release() {
        if (fence != null) {
            Fence f = fence;
            fence = null;
            try {
                rounds.ownership().release(f);
            } catch (RuntimeException e) {
                ctx.getLog().warn("sync {}: could not release it on stopping: {}", name, FailureText.of(e));
            }
        }
    }

    /** What the stop did to the round that was in flight: finished, or ended at a chunk boundary. */
    private String stopped(Done d) {
        String sync = "sync " + name + ": ";
        if (d.failure() != null) {
            return sync + "the round in flight failed (its open transaction rolled back): " + d.failure();
        }
        if (d.report() == null) {
            return sync + "no round in flight";
        }
        List<String> cut = d.report().cutShort();
        return cut.isEmpty() ? sync + "the round in flight finished (" + d.report().rowsApplied() + " rows applied)"
                : sync + "the round in flight was cut short at a chunk boundary (" + d.report().rowsApplied()
                + " rows applied, nothing half-applied): " + String.join("; ", cut);
    }
}
