package dev.ibex.engine.runtime;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.NodeSettings;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.round.RoundRunner;
import dev.ibex.engine.round.RoundService;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;

/**
 * The running engine: an actor system whose guardian runs every configured sync on its schedule,
 * woken by each node's change counters (see {@link ChangePoller}) and by operator kicks (NOTIFY on
 * the control database).
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

    private final ControlStore control;
    private final NodeDirectory directory;
    private final RoundService rounds;
    private final Queue<String> stopReport = new ConcurrentLinkedQueue<>();
    private final ActorSystem<Guardian.Command> system;
    private final WakeListener kicks;
    private final Map<String, ChangePoller> pollers = new ConcurrentHashMap<>();
    private final Thread watcher;
    private volatile boolean closed;

    private Engine(ControlStore control) {
        this.control = control;
        this.directory = new NodeDirectory(control::node);
        this.rounds = new RoundService(control, directory, Clock.systemUTC(), RoundRunner.PURGE_BUDGET,
                (sync, node, counter, snapshot, next) -> poller(node).folded(sync, counter, snapshot, next));
        Config config = ConfigFactory.parseString("""
                pekko.loglevel = INFO
                pekko.loggers = ["org.apache.pekko.event.slf4j.Slf4jLogger"]
                pekko.logging-filter = "org.apache.pekko.event.slf4j.Slf4jLoggingFilter"
                pekko.coordinated-shutdown.run-by-jvm-shutdown-hook = off
                pekko.jvm-shutdown-hooks = off
                ibex-jdbc { type = Dispatcher, executor = "thread-pool-executor", thread-pool-executor { fixed-pool-size = 16 }, throughput = 1 }
                """).withFallback(ConfigFactory.load());
        this.system = ActorSystem.create(Guardian.create(control, rounds, "ibex-jdbc", note -> {
            if (closed) {
                stopReport.add(note);
            }
        }), "ibex", config);
        this.kicks = new WakeListener("control", control::dataSource, KICK_CHANNEL, this::wake);
        this.watcher = new Thread(this::watchNodes, "ibex-node-watch");
        this.watcher.setDaemon(true);
        this.watcher.start();
    }

    public static Engine start(ControlStore control) {
        return new Engine(control);
    }

    /** Starts a round of {@code sync} now (or right after the one in flight). */
    public void wake(String sync) {
        system.tell(new Guardian.Wake(sync));
    }

    /** Keeps one change poller per configured node; picks up nodes added while running. */
    private void watchNodes() {
        while (!closed) {
            try {
                List<NodeSettings> nodes = control.nodes();
                for (NodeSettings n : nodes) {
                    poller(n.name());
                }
            } catch (RuntimeException e) {
                // control database unreachable: the guardian reports it; try again later
            }
            java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofSeconds(2).toNanos());
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
        system.tell(new Guardian.Stop());
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
        directory.close();
    }
}
