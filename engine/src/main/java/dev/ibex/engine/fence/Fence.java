package dev.ibex.engine.fence;

import dev.ibex.engine.IbexException;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.db.SqlErrors;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;

/**
 * The epoch at which an engine owns a sync (ADR 0005). Every transaction that writes on behalf of
 * the sync, on a node or on the control database, calls {@code ibex.fence(sync, epoch)} first: it
 * fails with SQLSTATE {@value #REJECTED} unless the database still holds this epoch, and it keeps
 * a row lock on the epoch until the transaction ends, so that the epoch cannot move under a
 * transaction that has checked it: a stale owner's commit comes before a takeover or not at all.
 * The check also names the transaction ({@code application_name}), so that a new owner can end
 * the transactions of older epochs that hold it up ({@link #take}).
 */
public record Fence(String sync, long epoch) {
    /** The SQLSTATE of a fence rejection. */
    public static final String REJECTED = "IBF01";
    /** How long a takeover waits, each time, for older epochs' transactions before it ends them and tries again. */
    static final Duration TAKE_WAIT = Duration.ofSeconds(1);
    static final int TAKE_ATTEMPTS = 10;

    private static final String STALE = "select count(pg_catalog.pg_terminate_backend(a.pid)) from pg_catalog.pg_stat_activity a "
            + "where a.pid <> pg_catalog.pg_backend_pid() and a.datname = pg_catalog.current_database() "
            + "and a.application_name like 'ibex fence ' || left(md5(?), 16) || ' %' "
            + "and split_part(a.application_name, ' ', 4) ~ '^[0-9]+$' and split_part(a.application_name, ' ', 4)::bigint < ?";

    /** Checks the fence in the transaction open on {@code c} (a node's or the control database's). */
    public void check(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("select ibex.fence(?, ?)")) {
            ps.setString(1, sync);
            ps.setLong(2, epoch);
            ps.execute();
        }
    }

    /** The check as one statement of a multi-statement string (the sync name as a quoted literal). */
    public String checkStatement() {
        return "select " + call();
    }

    /** The check as an expression, for a statement that must check the fence itself. */
    public String call() {
        return "ibex.fence('" + sync.replace("'", "''") + "', " + epoch + ")";
    }

    /** True when {@code e} (or its cause) is a fence rejection. */
    public static boolean rejected(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof Rejected) {
                return true;
            }
        }
        return REJECTED.equals(SqlErrors.state(e));
    }

    /**
     * Raises the sync's epoch on the node reached through {@code c} (autocommit) to this fence's:
     * first ends the sessions of older epochs, such as a frozen owner's open transaction
     * ({@code pg_terminate_backend}: the engine's role may end its own sessions), then raises it,
     * waiting at most {@link #TAKE_WAIT} for a transaction that checked an older epoch meanwhile,
     * and starts over if one did. Returns how many sessions it ended. Fails with {@link Rejected}
     * when the node holds a newer epoch already.
     */
    public int take(Connection c, String node) throws SQLException {
        int ended = 0;
        for (int attempt = 1; ; attempt++) {
            ended += endStale(c);
            try (Statement s = c.createStatement()) {
                s.execute("set lock_timeout = " + TAKE_WAIT.toMillis());
            }
            try (PreparedStatement ps = c.prepareStatement("select ibex.take_fence(?, ?)")) {
                ps.setString(1, sync);
                ps.setLong(2, epoch);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    long now = rs.getLong(1);
                    if (now > epoch) {
                        throw new Rejected("fenced: sync " + sync + " is at epoch " + now + " on node " + node
                                + ", this engine holds epoch " + epoch);
                    }
                    return ended;
                }
            } catch (SQLException e) {
                if (!SqlErrors.isLockNotAvailable(e) || attempt >= TAKE_ATTEMPTS) {
                    throw e;
                }
            } finally {
                try (Statement s = c.createStatement()) {
                    s.execute("reset lock_timeout");
                }
            }
        }
    }

    /**
     * Ends the sessions of this database whose open transaction or round lock names an older epoch
     * of this sync (not those of other databases on the same server: another installation may have
     * a sync of the same name).
     */
    int endStale(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(STALE)) {
            ps.setString(1, sync);
            ps.setLong(2, epoch);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }

    /** How this fence names a session (the same as {@code ibex.fence_name}). */
    public String sessionName() {
        return "ibex fence " + md5(sync).substring(0, 16) + " " + epoch;
    }

    private static String md5(String s) {
        try {
            byte[] d = java.security.MessageDigest.getInstance("MD5").digest(s.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return java.util.HexFormat.of().formatHex(d);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A write refused because another engine took the sync at a newer epoch. */
    public static final class Rejected extends IbexException {
        public Rejected(String message) {
            super(message);
        }

        public Rejected(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** {@code e} as a {@link Rejected} if it is a fence rejection, with what was being done. */
    public static java.util.Optional<Rejected> asRejection(String doing, Throwable e) {
        if (e instanceof Rejected r) {
            return java.util.Optional.of(r);
        }
        return rejected(e) ? java.util.Optional.of(new Rejected(doing + ": " + Redactor.firstLine(SqlErrors.message(e)), e))
                : java.util.Optional.empty();
    }
}
