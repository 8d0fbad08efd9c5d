package dev.ibex.engine.runtime;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.db.NodeSettings;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.fence.Engines;
import dev.ibex.engine.metrics.MetricsServer;
import dev.ibex.engine.round.RoundObserver;
import dev.ibex.engine.round.RoundRunner;
import dev.ibex.engine.status.StatusReader;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.actor.typed.ActorSystem;

/**
 * The running engine: an actor system whose guardian runs the configured syncs on their schedule,
 * woken by each node's change counters (see {@link ChangePoller}) and by operator kicks (NOTIFY on
 * the control database). Standalone it runs every sync that no other running engine owns; as a
 * member of a Pekko Cluster ({@link EngineOptions.Cluster}) the syncs that Cluster Sharding places
 * on it. Either way it takes each sync before running it, at a new fencing epoch (ADR 0005), and
 * records itself in {@code ibex.engine} every {@link Engines#HEARTBEAT_EVERY}.
 * {@link #close()} stops gracefully and within a bound: a round in flight ends after the chunk it is
 * applying (each target's chunk and watermarks commit together, so nothing is half-applied), and a
 * round still running after {@link #STOP_TIMEOUT} is abandoned: its connections close and its open
 * transactions roll back. {@link #stopReport()} says which happened.
 */
public final class Engine implements AutoCloseable {
    /** The channel on the control database that {@code ibex sync kick} notifies. */
    public static final String KICK_CHANNEL = "ibex_kick";
    /** How often each node's change counters are read. */
    static final Duration POLL_EVERY = Duration.ofMillis(5);
    /** How long {@link #close()} waits for rounds in flight before abandoning them. */
    public static final Duration STOP_TIMEOUT = Duration.ofSeconds(15);
    /** This build's version, as {@code ibex engines} lists it. */
    public static final String VERSION = java.util.Objects.requireNonNullElse(Engine.class.getPackage().getImplementationVersion(), "dev");

    private final ControlStore control;
    private final String name;
    private final String address;
    private final Instant started = Instant.now();
    private final Engines engines;
    private final AtomicLong fenceRejections = new AtomicLong();
    private final NodeDirectory directory;
    private final RoundService rounds;
    private final Queue<String> stopReport = new ConcurrentLinkedQueue<>();
    private final ActorSystem<Guardian.Command> system;
    private final WakeListener kicks;
    private final Map<String, ChangePoller> pollers = new ConcurrentHashMap<>();
    private final Thread watcher;
    private final boolean clustered;
    /** Null when the engine serves no metrics. */
    private final MetricsServer metrics;
    private volatile boolean closed;

    private Engine(ControlStore control, EngineOptions options) {
        this.control = control;
        this.clustered = options.cluster() != null;
        this.address = clustered ? options.cluster().bind().toString() : null;
        this.name = options.name() != null ? options.name()
                : clustered ? address : hostName() + "/" + ProcessHandle.current().pid();
        this.engines = new Engines(control.dataSource());
        this.directory = new NodeDirectory(control.nodes()::get);
        Config config = config(options);
        this.metrics = options.metrics() == null ? null : MetricsServer.start(options.metrics(),
                new StatusReader(control, directory, Clock.systemUTC()), control.dataSource(), this::state);
        this.rounds = new RoundService(control, directory, Clock.systemUTC(), RoundRunner.PURGE_BUDGET,
                (sync, node, counter, snapshot, next) -> poller(node).folded(sync, counter, snapshot, next),
                metrics == null ? RoundObserver.NONE : metrics.rounds());
        // in a cluster, Sharding has stopped the sync's entity on its last owner before starting it here (or that owner
        // crashed, or was cut off and downed): take it whoever the control database names; fencing covers the rest
        Claim claim = new Claim(name, clustered ? other -> false : engines::running, clustered ? this::settledMember : () -> true,
                fenceRejections::incrementAndGet);
        this.system = startSystem(claim, config);
        heartbeat(memberState());
        this.kicks = new WakeListener("control", control::dataSource, KICK_CHANNEL, this::wake);
        this.watcher = new Thread(this::watchNodes, "ibex-node-watch");
        this.watcher.setDaemon(true);
        this.watcher.start();
    }

    /** The actor system and its guardian; if they cannot start, the metrics endpoint closes too. */
    private ActorSystem<Guardian.Command> startSystem(Claim claim, Config config) {
        try {
            return ActorSystem.create(Guardian.create(control, rounds, "ibex-jdbc", note -> {
                if (closed) {
                    stopReport.add(note);
                }
            }, claim, clustered), "ibex", config);
        } catch (RuntimeException e) {
            if (metrics != null) {
                metrics.close();
            }
            throw e;
        }
    }

    public static Engine start(ControlStore control) {
        return start(control, EngineOptions.STANDALONE);
    }

    public static Engine start(ControlStore control, EngineOptions options) {
        return new Engine(control, options);
    }

    /** The actor system's settings: Ibex's own, and for a cluster member {@code ibex-cluster.conf} with its overrides. */
    private Config config(EngineOptions options) {
        Config own = ConfigFactory.parseString("""
                pekko.loglevel = INFO
                pekko.loggers = ["org.apache.pekko.event.slf4j.Slf4jLogger"]
                pekko.logging-filter = "org.apache.pekko.event.slf4j.Slf4jLoggingFilter"
                pekko.coordinated-shutdown.run-by-jvm-shutdown-hook = off
                pekko.jvm-shutdown-hooks = off
                ibex-jdbc { type = Dispatcher, executor = "thread-pool-executor", thread-pool-executor { fixed-pool-size = 16 }, throughput = 1 }
                """);
        if (!clustered) {
            return own.withFallback(ConfigFactory.load());
        }
        EngineOptions.Cluster c = options.cluster();
        Config command = ConfigFactory.empty()
                .withValue("pekko.remote.artery.canonical.hostname", ConfigValueFactory.fromAnyRef(c.bind().host()))
                .withValue("pekko.remote.artery.canonical.port", ConfigValueFactory.fromAnyRef(c.bind().port()))
                .withValue("pekko.cluster.seed-nodes", ConfigValueFactory.fromIterable(
                        c.seeds().stream().map(s -> "pekko://ibex@" + s).toList()));
        Config file = ConfigFactory.empty();
        if (c.config() != null) {
            if (!java.nio.file.Files.isReadable(c.config())) {
                throw new dev.ibex.engine.UsageException("--cluster-config: cannot read " + c.config());
            }
            file = ConfigFactory.parseFile(c.config().toFile());
        }
        // system properties win over the file, which wins over the jar's ibex-cluster.conf
        return ConfigFactory.systemProperties().withFallback(command).withFallback(file).withFallback(own)
                .withFallback(ConfigFactory.parseResources("ibex-cluster.conf")).withFallback(ConfigFactory.load()).resolve();
    }

    /** True while this engine is an Up member of its cluster that sees every other member as reachable. */
    private boolean settledMember() {
        org.apache.pekko.cluster.Cluster cluster = cluster();
        return cluster.selfMember().status() == org.apache.pekko.cluster.MemberStatus.up() && cluster.state().getUnreachable().isEmpty();
    }

    private org.apache.pekko.cluster.Cluster cluster() {
        return org.apache.pekko.cluster.Cluster.get(org.apache.pekko.actor.typed.javadsl.Adapter.toClassic(system));
    }

    /** What the engine does, for its health: {@code running}, {@code starting}, {@code stopping}, {@code stopped}... */
    private String state() {
        if (system == null) {
            return "starting";
        }
        if (system.getWhenTerminated().toCompletableFuture().isDone()) {
            return closed ? "stopped" : "stopped by itself (a fatal error; see its log)";
        }
        return closed ? "stopping" : "running";
    }

    /** Where the engine serves {@code /metrics} and {@code /health}; empty when it serves no metrics. */
    public java.util.Optional<java.net.InetSocketAddress> metricsAddress() {
        return java.util.Optional.ofNullable(metrics).map(MetricsServer::address);
    }

    /** This engine's name: the owner the control database records for the syncs it runs. */
    public String name() {
        return name;
    }

    /** Fence rejections this engine met: writes refused because another engine had taken the sync. */
    public long fenceRejections() {
        return fenceRejections.get();
    }

    /**
     * What this engine says of itself: {@code up} standalone; in a cluster, its membership status
     * ({@code joining} until the others have seen it join, then {@code up}; {@code leaving}...).
     */
    private String memberState() {
        if (!clustered) {
            return "up";
        }
        try {
            String status = cluster().selfMember().status().toString();
            return status.toLowerCase(java.util.Locale.ROOT).replace("weaklyup", "weakly-up");
        } catch (RuntimeException e) {
            return "up";
        }
    }

    private void heartbeat(String state) {
        try {
            engines.heartbeat(name, address, state, VERSION, started);
        } catch (RuntimeException e) {
            // the control database is unreachable: the guardian reports it; the row says so by its age
        }
    }

    private static String hostName() {
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.net.UnknownHostException e) {
            return "localhost";
        }
    }

    /** Starts a round of {@code sync} now (or right after the one in flight). */
    public void wake(String sync) {
        system.tell(new Guardian.Wake(sync));
    }

    /** Keeps one change poller per configured node; picks up nodes added while running. */
    private void watchNodes() {
        while (!closed) {
            heartbeat(memberState());
            try {
                List<NodeSettings> nodes = control.nodes().all();
                for (NodeSettings n : nodes) {
                    if (!pollers.containsKey(n.name())) {
                        rounds.prepare(n.name());
                    }
                    poller(n.name());
                }
            } catch (RuntimeException e) {
                // control database unreachable: the guardian reports it; try again later
            }
            java.util.concurrent.locks.LockSupport.parkNanos(Engines.HEARTBEAT_EVERY.toNanos());
        }
    }

    /** The node's change poller, started on first demand (a round may fold a node before the watcher sees it). */
    private ChangePoller poller(String node) {
        return pollers.computeIfAbsent(node, n -> new ChangePoller(n, () -> directory.pool(n), this::wake, POLL_EVERY));
    }

    /** True unless the engine stopped by itself (a fatal error) rather than through {@link #close()}. */
    public boolean stoppedOnRequest() {
        return closed;
    }

    /** Waits until the engine has stopped (after {@link #close()} or a fatal error). */
    public void awaitTermination() throws InterruptedException {
        while (!system.getWhenTerminated().toCompletableFuture().isDone()) {
            try {
                system.getWhenTerminated().toCompletableFuture().get(1, TimeUnit.SECONDS);
            } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException ignored) {
                // keep waiting
            }
        }
    }

    /** After {@link #close()}: per sync, what became of its round in flight. */
    public List<String> stopReport() {
        return List.copyOf(stopReport);
    }

    private void abandon() {
        stopReport.add("rounds still in flight after " + STOP_TIMEOUT.toSeconds() + " s were abandoned: their connections "
                + "close now and their open transactions roll back (committed chunks and watermarks stay)");
        system.terminate();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        rounds.stop();
        heartbeat(Engines.STOPPING);
        if (clustered) {
            // leaves the cluster: Sharding hands each sync over (its round in flight ends first, then it is released)
            org.apache.pekko.actor.CoordinatedShutdown.get(system).run(org.apache.pekko.actor.CoordinatedShutdown.clusterLeavingReason());
        } else {
            system.tell(new Guardian.Stop());
        }
        try {
            system.getWhenTerminated().toCompletableFuture().get(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            abandon();
        } catch (TimeoutException | ExecutionException e) {
            abandon();
        }
        kicks.close();
        pollers.values().forEach(ChangePoller::close);
        watcher.interrupt();
        heartbeat(Engines.STOPPED);
        if (metrics != null) {
            metrics.close();
        }
        directory.close();
    }
}
