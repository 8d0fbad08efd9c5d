package dev.ibex.cli.bench;

import dev.ibex.engine.IbexException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.locks.LockSupport;

/**
 * W3 lag: writers on node a paced at a steady rate of autocommit single-row updates per second of
 * {@code accounts} ({@value #RATE} for the target's figure, by one writer), each on a row of its
 * own (ids 1, 2, 3, ...), marking it with the run's note; a poller on b looks every {@code POLL}
 * for marked rows it has not seen yet. An update's lag runs from the instant its commit returned
 * on a to the poll that first saw it on b. The sweep raises the rate step by step (more writers,
 * one per 1 000/s up to {@value #MAX_WRITERS}) until the lag's p99 passes {@value #SUSTAINED_P99_MILLIS} ms.
 */
final class LagWorkload {
    static final int RATE = 500;
    static final List<Integer> SWEEP = List.of(1000, 2000, 4000, 8000);
    static final int MAX_WRITERS = 4;
    static final double SUSTAINED_P99_MILLIS = 500;
    static final Duration POLL = Duration.ofMillis(5);
    static final Duration LIMIT = Duration.ofMinutes(2);
    /**
     * Writes before the target's run, not measured, until b has them all: an engine's first rounds
     * run on code its JIT compiler has not compiled yet (a W3 run on an engine just started had a
     * p99 of 437 ms, the next one 55 ms), and an engine runs for days.
     */
    static final Duration WARM_UP = Duration.ofSeconds(2);

    private LagWorkload() {
    }

    /** One run's lags: median and p99 in milliseconds, and the update rate achieved. */
    record Run(double medianMillis, double p99Millis, double achievedRate) {
        boolean sustained(int rate) {
            return p99Millis <= SUSTAINED_P99_MILLIS && achievedRate >= 0.9 * rate;
        }
    }

    /**
     * The target's run: {@value #RATE} updates/s for {@code length}, after {@link #WARM_UP} of the
     * same writes that are not measured.
     */
    static Run run(BenchCluster cluster, int run, long rows, Duration length) throws Exception {
        run(cluster, "w3w-" + run, RATE, (int) Math.min(rows, RATE * WARM_UP.toSeconds()));
        return run(cluster, "w3-" + run, RATE, (int) Math.min(rows, RATE * length.toSeconds()));
    }

    /**
     * The sweep: each rate of {@link #SWEEP} for {@code length}, in order, until one is not
     * sustained (the lag's p99 above {@value #SUSTAINED_P99_MILLIS} ms, or the writers fell short of
     * the rate by more than 10 %); returns the runs made, by rate.
     */
    static Map<Integer, Run> sweep(BenchCluster cluster, int run, long rows, Duration length) throws Exception {
        Map<Integer, Run> out = new LinkedHashMap<>();
        for (int rate : SWEEP) {
            Run r = run(cluster, "w3s-" + run + "-" + rate, rate, (int) Math.min(rows, rate * length.toSeconds()));
            out.put(rate, r);
            if (!r.sustained(rate)) {
                break;
            }
        }
        return out;
    }

    private static Run run(BenchCluster cluster, String note, int rate, int count) throws Exception {
        long[] committed = new long[count];
        long[] seen = new long[count];
        int writers = Math.min(MAX_WRITERS, Math.max(1, rate / 1000));
        ExecutorService pool = Executors.newFixedThreadPool(writers);
        try {
            long start = System.nanoTime() + Duration.ofMillis(50).toNanos();
            List<Future<?>> running = new ArrayList<>();
            for (int w = 0; w < writers; w++) {
                int first = w;
                running.add(pool.submit(() -> write(cluster, note, committed, start, 1_000_000_000L / rate, first, writers)));
            }
            poll(cluster, note, seen);
            for (Future<?> f : running) {
                f.get();
            }
            long last = Arrays.stream(committed).max().orElse(start);
            double achieved = count / Math.max(1e-9, (last - start) / 1e9);
            double[] lags = new double[count];
            for (int i = 0; i < count; i++) {
                lags[i] = (seen[i] - committed[i]) / 1e6;
            }
            Arrays.sort(lags);
            return new Run(BenchResult.median(Arrays.stream(lags).boxed().toList()),
                    lags[Math.min(count - 1, (int) Math.ceil(count * 0.99) - 1)], achieved);
        } finally {
            pool.shutdownNow();
        }
    }

    /** Updates rows {@code first}, {@code first + every}, ..., row i due at {@code start + i * step}. */
    private static Void write(BenchCluster cluster, String note, long[] committed, long start, long step, int first, int every)
            throws SQLException {
        try (Connection a = cluster.connect("a");
             PreparedStatement ps = a.prepareStatement("update accounts set balance = balance + 1, note = ? where id = ?")) {
            ps.setString(1, note);
            for (int i = first; i < committed.length; i += every) {
                long wait = start + i * step - System.nanoTime();
                if (wait > 0) {
                    LockSupport.parkNanos(wait);
                }
                ps.setLong(2, i + 1);
                ps.executeUpdate();
                committed[i] = System.nanoTime();
            }
            return null;
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
