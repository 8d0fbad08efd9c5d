package dev.ibex.engine.status;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.db.SqlErrors;
import dev.ibex.engine.window.AppliedStore;
import dev.ibex.engine.window.Snapshot;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * {@code ibex sync wait}: waits until everything committed so far on every active node of a sync
 * has been applied on at least a number of its other nodes, as {@code ibex.wait_replicated} does
 * for one node. Takes each node's snapshot first, then asks the engine for rounds (again every
 * second) and reads, on each node, which members have applied what that snapshot sees (ADR 0006).
 */
public final class SyncWait {
    private static final Duration POLL = Duration.ofMillis(20);
    private static final Duration KICK_EVERY = Duration.ofSeconds(1);

    /** One node of the sync: the other nodes holding its changes so far, those not yet, or why it could not be asked. */
    public record NodeWait(String node, List<String> have, List<String> lacking, String error) {
        public boolean reached(int needed) {
            return error == null && have.size() >= needed;
        }
    }

    /** The wait's outcome: whether every node's changes reached {@code needed} others, each node's state, how long it took. */
    public record Result(boolean reached, int needed, List<NodeWait> nodes, Duration took) {
    }

    private SyncWait() {
    }

    /**
     * Waits up to {@code timeout}; {@code kick} asks the engine for a round of the sync, {@code
     * progress} sees each node's state about every {@code progressEvery}. Each node is asked on a
     * thread of its own, so that one that does not answer holds up no other.
     */
    public static Result await(SyncSettings sync, NodeDirectory directory, int needed, Duration timeout, Runnable kick,
                               Duration progressEvery, Consumer<List<NodeWait>> progress) {
        long started = System.nanoTime();
        long deadline = started + timeout.toNanos();
        List<String> active = sync.activeNodes().stream().map(NodeId::name).toList();
        Map<String, NodeWait> state = new ConcurrentHashMap<>();
        active.forEach(n -> state.put(n, new NodeWait(n, List.of(), others(active, n), "did not answer")));
        CountDownLatch asked = new CountDownLatch(active.size());
        ExecutorService askers = Executors.newFixedThreadPool(active.size(), r -> {
            Thread t = new Thread(r, "ibex-sync-wait");
            t.setDaemon(true);
            return t;
        });
        try {
            for (String n : active) {
                askers.submit(() -> {
                    Snapshot[] since = new Snapshot[1];
                    boolean counted = false;
                    while (true) {
                        NodeWait w = look(sync.name(), directory, n, active, since);
                        state.put(n, w);
                        if (!counted) {
                            asked.countDown(); // its snapshot is taken, or it could not be asked
                            counted = true;
                        }
                        if (w.reached(needed) || System.nanoTime() >= deadline) {
                            return;
                        }
                        LockSupport.parkNanos(POLL.toNanos());
                    }
                });
            }
            long lastKick = 0;
            long lastProgress = started;
            boolean kicked = false;
            while (true) {
                long now = System.nanoTime();
                boolean done = active.stream().allMatch(n -> state.get(n).reached(needed));
                if (done || now >= deadline) {
                    return new Result(done, needed, active.stream().map(state::get).toList(), Duration.ofNanos(now - started));
                }
                // the first kick once every node's snapshot is taken (or it failed): a round that starts then takes what they see
                if ((!kicked && asked.getCount() == 0) || (kicked && now - lastKick >= KICK_EVERY.toNanos())
                        || (!kicked && now - started >= KICK_EVERY.toNanos())) {
                    kick.run();
                    lastKick = now;
                    kicked = true;
                }
                if (now - lastProgress >= progressEvery.toNanos()) {
                    progress.accept(active.stream().map(state::get).toList());
                    lastProgress = now;
                }
                LockSupport.parkNanos(Math.min(POLL.toNanos(), Math.max(0, deadline - now)));
            }
        } finally {
            askers.shutdownNow();
        }
    }

    /** Reads which members hold node {@code n}'s changes as of its snapshot, taken on the first look. */
    private static NodeWait look(String sync, NodeDirectory directory, String n, List<String> active, Snapshot[] since) {
        try (Connection c = directory.pool(n).getConnection()) {
            Snapshot s = since[0];
            if (s == null) {
                s = AppliedStore.now(c);
                since[0] = s;
            }
            List<String> have = AppliedStore.reached(c, sync, s);
            List<String> lacking = new ArrayList<>(others(active, n));
            lacking.removeAll(have);
            return new NodeWait(n, have, lacking, null);
        } catch (SQLException e) {
            String why = SqlErrors.isConnectionFailure(e) ? "unreachable: " + SqlErrors.connectFailure(e)
                    : SqlErrors.isUndefinedFunction(e) ? "its ibex schema predates 'ibex sync wait': start this version's engine, which upgrades it"
                    : Redactor.firstLine(e.getMessage());
            return new NodeWait(n, List.of(), others(active, n), Redactor.text(why));
        } catch (RuntimeException e) {
            return new NodeWait(n, List.of(), others(active, n), "unreachable: " + Redactor.firstLine(String.valueOf(e.getMessage())));
        }
    }

    private static List<String> others(List<String> active, String n) {
        return active.stream().filter(o -> !o.equals(n)).toList();
    }
}
