package dev.ibex.cli.bench;

import dev.ibex.engine.IbexException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.locks.LockSupport;

/**
 * W3 lag: one writer on node a paced at {@value #RATE} autocommit single-row updates per second
 * of {@code accounts}, each on a row of its own (ids 1, 2, 3, ...), marking it with the run's
 * note; a poller on b looks every {@code POLL} for marked rows it has not seen yet. An update's
 * lag runs from the instant its commit returned on a to the poll that first saw it on b.
 */
final class LagWorkload {
    static final int RATE = 500;
    static final Duration POLL = Duration.ofMillis(5);
    static final Duration LIMIT = Duration.ofMinutes(2);

    private LagWorkload() {
    }

    /** One run's lags: median and p99 in milliseconds, and the update rate achieved. */
    record Run(double medianMillis, double p99Millis, double achievedRate) {
    }

    static Run run(BenchCluster cluster, int run, long rows, Duration length) throws Exception {
        int count = (int) Math.min(rows, RATE * length.toSeconds());
        String note = "w3-" + run;
        long[] committed = new long[count];
        long[] seen = new long[count];
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            Future<Double> writer = pool.submit(() -> write(cluster, note, committed));
            poll(cluster, note, seen);
            double rate = writer.get();
            double[] lags = new double[count];
            for (int i = 0; i < count; i++) {
                lags[i] = (seen[i] - committed[i]) / 1e6;
            }
            Arrays.sort(lags);
            return new Run(BenchResult.median(Arrays.stream(lags).boxed().toList()),
                    lags[Math.min(count - 1, (int) Math.ceil(count * 0.99) - 1)], rate);
        } finally {
            pool.shutdownNow();
        }
    }

    private static double write(BenchCluster cluster, String note, long[] committed) throws SQLException {
        try (Connection a = cluster.connect("a");
             PreparedStatement ps = a.prepareStatement("update accounts set balance = balance + 1, note = ? where id = ?")) {
            ps.setString(1, note);
            long start = System.nanoTime();
            long step = 1_000_000_000L / RATE;
            for (int i = 0; i < committed.length; i++) {
                long due = start + i * step;
                long wait = due - System.nanoTime();
                if (wait > 0) {
                    LockSupport.parkNanos(wait);
                }
                ps.setLong(2, i + 1);
                ps.executeUpdate();
                committed[i] = System.nanoTime();
            }
            return committed.length / ((System.nanoTime() - start) / 1e9);
        }
    }

    /** Fills {@code seen[i]} with the instant row i + 1 was first seen with {@code note} on b. */
    private static void poll(BenchCluster cluster, String note, long[] seen) throws SQLException {
        long deadline = System.nanoTime() + LIMIT.toNanos();
        int lowest = 0;
        try (Connection b = cluster.connect("b");
             PreparedStatement ps = b.prepareStatement("select id from accounts where note = ? and id > ? and id <= ?")) {
            ps.setString(1, note);
            ps.setLong(3, seen.length);
            while (lowest < seen.length) {
                ps.setLong(2, lowest);
                try (ResultSet rs = ps.executeQuery()) {
                    long now = System.nanoTime();
                    while (rs.next()) {
                        int i = (int) rs.getLong(1) - 1;
                        if (seen[i] == 0) {
                            seen[i] = now;
                        }
                    }
                }
                while (lowest < seen.length && seen[lowest] != 0) {
                    lowest++;
                }
                if (System.nanoTime() > deadline) {
                    throw new IbexException("node b, table accounts: updates marked " + note + " did not all arrive within "
                            + LIMIT.toMinutes() + " min");
                }
                LockSupport.parkNanos(POLL.toNanos());
            }
        }
    }
}
