package dev.ibex.cli.bench;

import dev.ibex.engine.IbexException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;

/**
 * W2 capture overhead on node a: single-row random updates in autocommit from several client
 * threads on {@code plain_accounts} (no capture) and on {@code accounts} (capture installed, in
 * sync {@code bench} with b), the latter once with the sync's engine stopped (capture alone) and
 * once with it running and replicating. The bulk statements are {@link BulkStatement}s. After the
 * engine (re)starts it drains what was captured before the next timed step, so its rounds
 * overlap only with the step they replicate.
 */
final class CaptureOverheadWorkload {
    static final int CLIENTS = 4;

    private CaptureOverheadWorkload() {
    }

    /** Transactions per second of {@value #CLIENTS} clients updating random rows of {@code table} for {@code length}. */
    static double tps(BenchCluster cluster, String table, long rows, Duration length) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(CLIENTS);
        try {
            long start = System.nanoTime();
            long end = start + length.toNanos();
            List<Future<Long>> counts = new ArrayList<>();
            for (int i = 0; i < CLIENTS; i++) {
                counts.add(pool.submit(() -> updateUntil(cluster, table, rows, end)));
            }
            long total = 0;
            for (Future<Long> f : counts) {
                total += f.get();
            }
            return total / ((System.nanoTime() - start) / 1e9);
        } finally {
            pool.shutdownNow();
        }
    }

    private static long updateUntil(BenchCluster cluster, String table, long rows, long end) throws SQLException {
        long n = 0;
        try (Connection c = cluster.connect("a");
             PreparedStatement ps = c.prepareStatement("update " + table + " set balance = balance + 1 where id = ?")) {
            while (System.nanoTime() < end) {
                ps.setLong(1, ThreadLocalRandom.current().nextLong(1, rows + 1));
                ps.executeUpdate();
                n++;
            }
        }
        return n;
    }

    /** Waits until the engine has brought b level with a on {@code accounts} and has nothing left to replicate. */
    static void drain(BenchCluster cluster) throws SQLException {
        if (!cluster.awaitEqual(BenchCluster.ACCOUNTS, List.of("a", "b"), BulkWorkload.LIMIT, Duration.ofMillis(100))
                || !cluster.awaitIdle(BenchCluster.SYNC, BulkWorkload.LIMIT, Duration.ofMillis(100))) {
            throw new IbexException("sync " + BenchCluster.SYNC + ", table " + BenchCluster.ACCOUNTS
                    + ": nodes a and b did not converge within " + BulkWorkload.LIMIT.toMinutes() + " min");
        }
    }

    /** VACUUM of {@code table} on a. */
    static void vacuum(BenchCluster cluster, String table) throws SQLException {
        try (Connection c = cluster.connect("a"); Statement s = c.createStatement()) {
            s.execute("vacuum " + table);
        }
    }
}
