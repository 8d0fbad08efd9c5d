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
 * threads, and one UPDATE of every row, on {@code plain_accounts} (no capture) and on
 * {@code accounts} (capture installed, in a sync with b, engine running). Before each timed
 * step on the captured table the engine has caught up, so its rounds overlap only with the
 * step they replicate.
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

    /** Seconds for one autocommit UPDATE of every row of {@code table} on a, commit included. */
    static double updateAll(BenchCluster cluster, String table, String note) throws SQLException {
        try (Connection c = cluster.connect("a"); PreparedStatement ps =
                c.prepareStatement("update " + table + " set balance = balance + 1, note = ?")) {
            ps.setString(1, note);
            long t0 = System.nanoTime();
            ps.executeUpdate();
            return (System.nanoTime() - t0) / 1e9;
        }
    }

    /** Waits until the engine has brought b level with a on {@code accounts}. */
    static void drain(BenchCluster cluster) throws SQLException {
        if (!cluster.awaitEqual(BenchCluster.ACCOUNTS, List.of("a", "b"), BulkWorkload.LIMIT, Duration.ofMillis(100))) {
            throw new IbexException("sync " + BenchCluster.SYNC + ", table " + BenchCluster.ACCOUNTS
                    + ": nodes a and b did not converge within " + BulkWorkload.LIMIT.toMinutes() + " min");
        }
    }

    static void vacuum(BenchCluster cluster, String table) throws SQLException {
        try (Connection c = cluster.connect("a"); Statement s = c.createStatement()) {
            s.execute("vacuum " + table);
        }
    }
}
