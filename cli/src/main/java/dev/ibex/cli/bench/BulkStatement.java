package dev.ibex.cli.bench;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import org.postgresql.PGConnection;

/**
 * W2's bulk statements on node a: each is one autocommit statement, timed from before it is sent
 * until its commit returns, on {@code plain_accounts} (no capture) and on {@code accounts}
 * (capture installed). Each has an untimed clean-up that leaves the table with its N seeded ids,
 * vacuumed, so that every statement starts from the same table.
 */
enum BulkStatement {
    /** {@code UPDATE t SET balance = balance + 1, note = 'w2u-<run>'} of every row. */
    UPDATE_ALL("update all") {
        @Override
        double time(BenchCluster cluster, String table, int run, long rows) throws SQLException {
            try (Connection c = cluster.connect("a");
                 PreparedStatement ps = c.prepareStatement("update " + table + " set balance = balance + 1, note = ?")) {
                ps.setString(1, "w2u-" + run);
                long t0 = System.nanoTime();
                ps.executeUpdate();
                return (System.nanoTime() - t0) / 1e9;
            }
        }
    },
    /** {@code INSERT INTO t SELECT g, 0, 'w2i-<run>', now() FROM generate_series(N + 1, 2N) g}. */
    INSERT_SELECT("insert-select") {
        @Override
        double time(BenchCluster cluster, String table, int run, long rows) throws SQLException {
            try (Connection c = cluster.connect("a"); PreparedStatement ps = c.prepareStatement(
                    "insert into " + table + " select g, 0, ?, now() from generate_series(?::bigint, ?::bigint) g")) {
                ps.setString(1, "w2i-" + run);
                ps.setLong(2, rows + 1);
                ps.setLong(3, 2 * rows);
                long t0 = System.nanoTime();
                ps.executeUpdate();
                return (System.nanoTime() - t0) / 1e9;
            }
        }
    },
    /**
     * {@code COPY t (id, balance, note) FROM STDIN} of N new rows, ids N + 1 to 2N, in text
     * format, built in memory beforehand and sent with PgJDBC's CopyManager.
     */
    COPY("copy") {
        @Override
        double time(BenchCluster cluster, String table, int run, long rows) throws SQLException {
            StringBuilder text = new StringBuilder();
            for (long id = rows + 1; id <= 2 * rows; id++) {
                text.append(id).append("\t0\tw2c-").append(run).append('\n');
            }
            byte[] data = text.toString().getBytes(StandardCharsets.UTF_8);
            try (Connection c = cluster.connect("a")) {
                long t0 = System.nanoTime();
                c.unwrap(PGConnection.class).getCopyAPI()
                        .copyIn("copy " + table + " (id, balance, note) from stdin", new ByteArrayInputStream(data));
                return (System.nanoTime() - t0) / 1e9;
            } catch (IOException e) {
                throw new SQLException("node a, table " + table + ": COPY FROM STDIN failed: " + e.getMessage(), e);
            }
        }
    };

    /** How the statement appears in figure names. */
    final String label;

    BulkStatement(String label) {
        this.label = label;
    }

    /** Seconds for the statement on {@code table} on a, commit included. */
    abstract double time(BenchCluster cluster, String table, int run, long rows) throws SQLException;

    /** Deletes the rows the statement added (ids above N; none for an update), then vacuums {@code table} on a. */
    void cleanUp(BenchCluster cluster, String table, long rows) throws SQLException {
        try (Connection c = cluster.connect("a"); Statement s = c.createStatement()) {
            s.executeUpdate("delete from " + table + " where id > " + rows);
            s.execute("vacuum " + table);
        }
    }
}
