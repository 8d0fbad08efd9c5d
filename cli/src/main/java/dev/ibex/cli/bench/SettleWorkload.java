package dev.ibex.cli.bench;

import dev.ibex.engine.IbexException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;

/**
 * W4 settle: one writer per node (a, b, c) updates random rows among ids 1..1000 of
 * {@code settle_accounts} in autocommit, so the nodes conflict; after the writers stop, the time
 * until the three tables have equal checksums (polled every 50 ms).
 */
final class SettleWorkload {
    static final int HOT_IDS = 1000;
    static final Duration POLL = Duration.ofMillis(50);
    static final Duration LIMIT = Duration.ofMinutes(5);

    private SettleWorkload() {
    }

    /** What one run did: transactions written on all nodes together and the seconds to settle. */
    record Run(long transactions, double settleSeconds) {
    }

    static Run run(BenchCluster cluster, long rows, Duration length) throws Exception {
        List<String> nodes = cluster.nodes();
        long hot = Math.min(HOT_IDS, rows);
        ExecutorService pool = Executors.newFixedThreadPool(nodes.size());
        long total = 0;
        try {
            long end = System.nanoTime() + length.toNanos();
            List<Future<Long>> counts = new ArrayList<>();
            for (String n : nodes) {
                counts.add(pool.submit(() -> write(cluster, n, hot, end)));
            }
            for (Future<Long> f : counts) {
                total += f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        long stopped = System.nanoTime();
        if (!cluster.awaitEqual(BenchCluster.SETTLE, nodes, LIMIT, POLL)) {
            throw new IbexException("sync " + BenchCluster.SETTLE_SYNC + ", table " + BenchCluster.SETTLE
                    + ": nodes " + nodes + " did not converge within " + LIMIT.toMinutes() + " min");
        }
        return new Run(total, (System.nanoTime() - stopped) / 1e9);
    }

    private static long write(BenchCluster cluster, String node, long hot, long end) throws SQLException {
        long n = 0;
        try (Connection c = cluster.connect(node); PreparedStatement ps = c.prepareStatement(
                "update settle_accounts set balance = balance + 1, note = ?, updated_at = now() where id = ?")) {
            ps.setString(1, "w4-" + node);
            while (System.nanoTime() < end) {
                ps.setLong(2, ThreadLocalRandom.current().nextLong(1, hot + 1));
                ps.executeUpdate();
                n++;
            }
        }
        return n;
    }
}
