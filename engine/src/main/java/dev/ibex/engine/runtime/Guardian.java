package dev.ibex.engine.runtime;

import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.runtime.RoundService;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.sharding.typed.ShardingEnvelope;
import org.apache.pekko.cluster.sharding.typed.ShardingMessageExtractor;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;

/**
 * Supervises the engine's {@link SyncActor}s: reloads the configuration every second, routes
 * wake-ups and kicks to the syncs that run here, and on stop waits for every sync's round in
 * flight before stopping itself. One read of the configuration at a time: the next is scheduled
 * when the last one is done, and while the control database cannot be read each failure is logged
 * in one line and the reads back off (up to {@link #MAX_BACKOFF}); the sync actors keep their
 * settings meanwhile.
 *
 * <p>Standalone, it starts, updates and stops one sync actor per configured sync. In a cluster,
 * each sync is an entity of Cluster Sharding ({@link #SYNCS}, one shard per sync) that runs on
 * exactly one engine: every guardian tells every configured sync's entity that it exists
 * ({@link SyncActor.Ensure}), so that Sharding starts it somewhere, and sends settings to the
 * entities that run here; an entity whose sync is gone is stopped.
 */
final class Guardian {
    interface Command extends NoSerializationVerificationNeeded {
    }

    record Wake(String sync) implements Command {
    }

    record Stop() implements Command {
    }

    /** A sync's entity started on this engine. */
    record EntityStarted(String sync, ActorRef<SyncActor.Command> entity) implements Command {
    }

    private record Reload() implements Command {
    }

    private record Loaded(List<SyncSettings> syncs, Throwable failure) implements Command {
    }

    static final Duration RELOAD_EVERY = Duration.ofSeconds(1);
    static final Duration MAX_BACKOFF = Duration.ofSeconds(10);
    /** The syncs as Cluster Sharding entities, named by sync. */
    static final EntityTypeKey<SyncActor.Command> SYNCS = EntityTypeKey.create(SyncActor.Command.class, "ibex-sync");

    private final ActorContext<Command> ctx;
    private final ControlStore control;
    private final RoundService rounds;
    private final Executor blocking;
    private final Consumer<String> onStop;
    private final Claim claim;
    /** Null when standalone. */
    private final ClusterSharding sharding;
    /** The sync actors (entities, in a cluster) running in this engine, by sync. */
    private final Map<String, ActorRef<SyncActor.Command>> syncs = new HashMap<>();
    private Map<String, SyncSettings> configured = Map.of();
    private boolean stopping;
    private long spawned;
    private int failures;

    private Guardian(ActorContext<Command> ctx, ControlStore control, RoundService rounds, Executor blocking,
                     Consumer<String> onStop, Claim claim, boolean clustered) {
        this.ctx = ctx;
        this.claim = claim;
        this.onStop = onStop;
        this.control = control;
        this.rounds = rounds;
        this.blocking = blocking;
        this.sharding = clustered ? ClusterSharding.get(ctx.getSystem()) : null;
        if (sharding != null) {
            ActorRef<Command> self = ctx.getSelf();
            sharding.init(Entity.of(SYNCS, e -> SyncActor.entity(rounds, blocking, e.getEntityId(), onStop, claim, self))
                    .withStopMessage(new SyncActor.Stop())
                    .withMessageExtractor(new OneShardPerSync()));
        }
    }

    /**
     * @param dispatcher the configured dispatcher on which blocking JDBC runs
     * @param onStop     told, per sync, what became of its round in flight when the engine stopped
     * @param claim      how this engine takes syncs
     * @param clustered  whether syncs are Cluster Sharding entities (the actor system is a cluster member)
     */
    static Behavior<Command> create(ControlStore control, RoundService rounds, String dispatcher, Consumer<String> onStop,
                                    Claim claim, boolean clustered) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            Executor blocking = ctx.getSystem().dispatchers().lookup(DispatcherSelector.fromConfig(dispatcher));
            Guardian g = new Guardian(ctx, control, rounds, blocking, onStop, claim, clustered);
            ctx.getSelf().tell(new Reload());
            return g.behavior(timers);
        }));
    }

    private Behavior<Command> behavior(TimerScheduler<Command> timers) {
        return Behaviors.receive(Command.class)
                .onMessage(Reload.class, m -> {
                    ctx.pipeToSelf(CompletableFuture.supplyAsync(control.syncs()::all, blocking), Loaded::new);
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
                .onMessage(EntityStarted.class, this::entityStarted)
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

    private Behavior<Command> entityStarted(EntityStarted m) {
        ctx.watch(m.entity());
        syncs.put(m.sync(), m.entity());
        SyncSettings s = configured.get(m.sync());
        if (s != null) {
            m.entity().tell(new SyncActor.Update(s));
        }
        return Behaviors.same();
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
        configured = now;
        for (SyncSettings s : now.values()) {
            ActorRef<SyncActor.Command> a = syncs.get(s.name());
            if (a != null) {
                a.tell(new SyncActor.Update(s));
            } else if (sharding != null) {
                sharding.entityRefFor(SYNCS, s.name()).tell(new SyncActor.Ensure(s.name()));
            } else {
                a = ctx.spawn(SyncActor.create(rounds, blocking, s, onStop, claim), "sync-" + (++spawned) + "-"
                        + URLEncoder.encode(s.name(), StandardCharsets.UTF_8));
                ctx.watch(a);
                syncs.put(s.name(), a);
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

    /** Each sync is its own shard, so that syncs, not hash buckets of them, spread evenly over the engines. */
    private static final class OneShardPerSync extends ShardingMessageExtractor<ShardingEnvelope<SyncActor.Command>, SyncActor.Command> {
        @Override
        public String entityId(ShardingEnvelope<SyncActor.Command> envelope) {
            return envelope.entityId();
        }

        @Override
        public String shardId(String entityId) {
            return entityId;
        }

        @Override
        public SyncActor.Command unwrapMessage(ShardingEnvelope<SyncActor.Command> envelope) {
            return envelope.message();
        }
    }
}
