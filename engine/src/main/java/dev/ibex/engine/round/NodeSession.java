package dev.ibex.engine.round;

import dev.ibex.engine.db.Redactor;
import dev.ibex.conflict.NodeId;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.window.TxId;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import javax.sql.DataSource;

/**
 * A node's two connections for the length of one round: a reader (ledger cursors and row
 * images, inside a read transaction per table) and a writer (apply transactions).
 */
final class NodeSession implements AutoCloseable {
    final NodeId node;
    final Connection reader;
    final Connection writer;
    private long clockSkewMillis;

    private NodeSession(NodeId node, Connection reader, Connection writer) {
        this.node = node;
        this.reader = reader;
        this.writer = writer;
    }

    static NodeSession open(NodeId node, DataSource ds) {
        Connection r = null;
        try {
            r = ds.getConnection();
            Connection w = ds.getConnection();
            return new NodeSession(node, r, w);
        } catch (SQLException e) {
            closeQuietly(r);
            throw new IbexException("node " + node + " is unreachable: " + dev.ibex.engine.db.SqlErrors.connectFailure(e), e);
        }
    }

    /** Clears the node's wake-up flag so that the next write notifies the engine again. */
    void clearWake(String sync) throws SQLException {
        try (PreparedStatement ps = reader.prepareStatement("update ibex.wake set pending = false where sync_name = ? and pending")) {
            ps.setString(1, sync);
            ps.executeUpdate();
        }
    }

    /**
     * Clears the node's wake-up flag, then takes its boundary: every txid below it has finished.
     * Measures the node's clock (the one capture stamps changes with) against {@code clock} on the
     * way, taking the middle of the round trip as the engine's time of the reading.
     */
    TxId boundary(String sync, java.time.Clock clock) throws SQLException {
        clearWake(sync);
        try (PreparedStatement ps = reader.prepareStatement(
                "select pg_snapshot_xmin(pg_current_snapshot())::text, (extract(epoch from ibex.clock()) * 1000)::bigint")) {
            long before = clock.millis();
            try (ResultSet rs = ps.executeQuery()) {
                long after = clock.millis();
                rs.next();
                clockSkewMillis = rs.getLong(2) - (before + after) / 2;
                return TxId.parse(rs.getString(1));
            }
        }
    }

    /** The node's clock minus the engine's, as {@link #boundary} measured it. */
    long clockSkewMillis() {
        return clockSkewMillis;
    }

    void endRead() {
        try {
            if (!reader.getAutoCommit()) {
                reader.commit();
                reader.setAutoCommit(true);
            }
        } catch (SQLException e) {
            throw new IbexException("node " + node + ": ending read transaction: " + e.getMessage(), e);
        }
    }


    private static void closeQuietly(Connection c) {
        if (c != null) {
            try {
                c.close();
            } catch (SQLException ignored) {
                // already broken
            }
        }
    }

    @Override
    public void close() {
        try {
            if (!reader.getAutoCommit()) {
                reader.rollback();
            }
        } catch (SQLException ignored) {
            // a broken connection is evicted by the pool
        }
        closeQuietly(reader);
        closeQuietly(writer);
    }
}
