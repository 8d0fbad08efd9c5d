package dev.ibex.engine.round;

import dev.ibex.engine.db.Redactor;
import dev.ibex.conflict.NodeId;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.window.AppliedStore;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import javax.sql.DataSource;

/**
 * A node's connections for the length of one round: a reader (versions and rows of chunks), a
 * writer (folds and apply transactions; from the node's pool of writers, whose sessions are
 * replicas) and, when the node is a source, a streamer (its change stream).
 */
final class NodeSession implements AutoCloseable {
    final NodeId node;
    final Connection reader;
    final Connection writer;
    private final DataSource pool;
    private Connection streamer;
    private static final String COUNTER = "select coalesce((select pg_catalog.pg_sequence_last_value(pg_catalog.format('%I.%I', "
            + "'ibex', c.changes_seq)::regclass) from ibex.capture c where c.sync_name = ? limit 1), 0), "
            + "(extract(epoch from ibex.clock()) * 1000)::bigint, "
            + "coalesce((select f.epoch from ibex.sync_fence f where f.sync_name = ?), 0)";

    /**
     * The counter as the reader reads it first in each round, bounding on the way how long the
     * reader waits for a table lock (1 s, reset when the session closes). The round's change stream
     * holds its tables' ACCESS SHARE lock in a transaction while the reader reads rows of the same
     * tables: DDL that needs ACCESS EXCLUSIVE (e.g. {@code CREATE TABLE ... PARTITION OF} a
     * replicated table) queues between them, and without a bound the reader would wait for the DDL,
     * which waits for the stream, until the socket timed out, with the applications' writes queued
     * behind the DDL. With it the read fails (55P03), the round ends and releases its locks, and the
     * next round retries. Set in the round's first statement, so it costs no round trip.
     */
    private static final String READER_COUNTER = COUNTER + ", pg_catalog.set_config('lock_timeout', '1s', false)";
    /**
     * The counter as the round's last statement on the node reads it, on the reader, followed by a
     * {@code RESET} of the reader's bound on lock waits, so that the connection goes back to the pool
     * as it came. PgJDBC sends both statements in one round trip. (Reading the value to restore
     * from {@code pg_settings} in the same statement cost 0.37 ms a call: the view lists every
     * setting of the server to find one.)
     */
    private static final String COUNTER_RESETTING = COUNTER + ";\nreset lock_timeout";

    /** Whether the reader's lock waits are still bounded by {@link #READER_COUNTER}: closing resets them then. */
    private boolean readerBounded;

    private long clockSkewMillis;
    private long fenceEpoch;

    private NodeSession(NodeId node, DataSource pool, Connection reader, Connection writer) {
        this.node = node;
        this.pool = pool;
        this.reader = reader;
        this.writer = writer;
    }

    /** A third connection, for a change stream (a COPY holds its connection while it runs), opened on first use. */
    Connection streamer() throws SQLException {
        if (streamer == null) {
            streamer = pool.getConnection();
        }
        return streamer;
    }

    /** @param writers the node's pool of writers, whose sessions are replicas ({@code NodeDirectory.writers}) */
    static NodeSession open(NodeId node, DataSource ds, DataSource writers) {
        Connection r = null;
        try {
            r = ds.getConnection();
            Connection w = writers.getConnection();
            return new NodeSession(node, ds, r, w);
        } catch (SQLException e) {
            closeQuietly(r);
            throw new IbexException("node " + node + " is unreachable: " + dev.ibex.engine.db.SqlErrors.connectFailure(e), e);
        }
    }

    /**
     * Reads the sync's change counter on the node (the sequence its capture triggers advance once
     * per statement; 0 when they never did) and measures the node's clock (the one capture stamps
     * changes with) against {@code clock} on the way, taking the middle of the round trip as the
     * engine's time of the reading; also reads the epoch of the sync's owner as the node holds it.
     * The first statement of a round on the node: it also bounds the reader's lock waits
     * ({@link #READER_COUNTER}).
     */
    long changes(String sync, java.time.Clock clock) throws SQLException {
        try (PreparedStatement ps = reader.prepareStatement(READER_COUNTER)) {
            ps.setString(1, sync);
            ps.setString(2, sync);
            long before = clock.millis();
            try (ResultSet rs = ps.executeQuery()) {
                readerBounded = true;
                long after = clock.millis();
                rs.next();
                clockSkewMillis = rs.getLong(2) - (before + after) / 2;
                fenceEpoch = rs.getLong(3);
                return rs.getLong(1);
            }
        }
    }

    /**
     * The sync's change counter as {@link #changes(String, java.time.Clock)} reads it, without the
     * clock, publishing {@code p} (if not null) on the node in the same statement (autocommit): how
     * far the other members have applied this node's changes. The round's last statement on the
     * node: on the reader, when it is not in a transaction, it also ends the reader's bound on lock
     * waits ({@link #COUNTER_RESETTING}).
     */
    long changes(String sync, AppliedStore.Publication p) throws SQLException {
        boolean onReader = reader.getAutoCommit();
        String counter = onReader ? COUNTER_RESETTING : COUNTER;
        try (PreparedStatement ps = (onReader ? reader : writer).prepareStatement(p == null ? counter : AppliedStore.publishing(counter))) {
            int i = p == null ? 1 : AppliedStore.bind(ps, p);
            ps.setString(i, sync);
            ps.setString(i + 1, sync);
            if (!ps.execute()) {
                throw new SQLException("the change counter's statement returned no row");
            }
            long counted;
            try (ResultSet rs = ps.getResultSet()) {
                rs.next();
                counted = rs.getLong(1);
            }
            while (ps.getMoreResults() || ps.getUpdateCount() != -1) {
                // the RESET: nothing to read
            }
            if (onReader) {
                readerBounded = false;
            }
            return counted;
        }
    }

    /** The epoch of the sync's owner as the node held it when {@link #changes} read it (0: no owner yet). */
    long fenceEpoch() {
        return fenceEpoch;
    }

    /** The node's clock minus the engine's, as {@link #changes} measured it. */
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
            if (readerBounded) {
                try (Statement st = reader.createStatement()) {
                    st.execute("reset lock_timeout"); // the connection goes back to the node's pool, shared with other work
                }
            }
        } catch (SQLException ignored) {
            // a broken connection is evicted by the pool
        }
        closeQuietly(reader);
        closeQuietly(writer);
        closeQuietly(streamer);
    }
}
