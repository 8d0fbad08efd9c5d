package dev.ibex.cli.bench;

import dev.ibex.engine.IbexException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.locks.LockSupport;

/**
 * W1 bulk: every row of {@code accounts} updated on node a, in one transaction or in ten; the
 * time runs from a's (first) commit until node b shows every row with the new note, polled with
 * a count every 20 ms. The engine runs with autokick; the bench never wakes it.
 */
final class BulkWorkload {
    static final Duration POLL = Duration.ofMillis(20);
    static final Duration LIMIT = Duration.ofMinutes(10);

    private BulkWorkload() {
    }

    /** One UPDATE of all rows in one transaction; rows/s from commit to visible on b. */
    static double oneTransaction(BenchCluster cluster, int run, long rows) throws SQLException {
        String note = "w1-" + run;
        long committed;
        try (Connection a = cluster.connect("a");
             PreparedStatement ps = a.prepareStatement("update accounts set balance = balance + 1, note = ?")) {
            a.setAutoCommit(false);
            ps.setString(1, note);
            ps.executeUpdate();
            a.commit();
            committed = System.nanoTime();
        }
        return rows / ((awaitNote(cluster, "b", "accounts", note, rows) - committed) / 1e9);
    }

    /** Ten transactions of a tenth of the rows each; rows/s from the first commit to all visible on b. */
    static double tenTransactions(BenchCluster cluster, int run, long rows) throws SQLException {
        String note = "w1x10-" + run;
        long chunk = (rows + 9) / 10;
        long first = 0;
        try (Connection a = cluster.connect("a"); PreparedStatement ps = a.prepareStatement(
                "update accounts set balance = balance + 1, note = ? where id > ? and id <= ?")) {
            a.setAutoCommit(false);
            for (int i = 0; i < 10; i++) {
                ps.setString(1, note);
                ps.setLong(2, i * chunk);
                ps.setLong(3, (i + 1) * chunk);
                ps.executeUpdate();
                a.commit();
                if (i == 0) {
                    first = System.nanoTime();
                }
            }
        }
        return rows / ((awaitNote(cluster, "b", "accounts", note, rows) - first) / 1e9);
    }

    /** Polls {@code node} until {@code rows} rows of {@code table} carry {@code note}; the instant it saw them. */
    static long awaitNote(BenchCluster cluster, String node, String table, String note, long rows) throws SQLException {
        long deadline = System.nanoTime() + LIMIT.toNanos();
        try (Connection c = cluster.connect(node);
             PreparedStatement ps = c.prepareStatement("select count(*) from " + table + " where note = ?")) {
            ps.setString(1, note);
            while (true) {
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    if (rs.getLong(1) >= rows) {
                        return System.nanoTime();
                    }
                }
                if (System.nanoTime() > deadline) {
                    throw new IbexException("node " + node + ", table " + table + ": rows with note " + note
                            + " did not all arrive within " + LIMIT.toMinutes() + " min");
                }
                LockSupport.parkNanos(POLL.toNanos());
            }
        }
    }
}
