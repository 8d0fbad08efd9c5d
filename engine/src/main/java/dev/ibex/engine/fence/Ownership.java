package dev.ibex.engine.fence;

import dev.ibex.engine.IbexException;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.db.SqlErrors;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.Optional;
import java.util.function.Predicate;
import javax.sql.DataSource;

/**
 * Who owns each sync, in the control database (ADR 0005). An engine takes a sync by raising its
 * epoch and naming itself its owner, in one transaction; the {@link Fence} it gets back is what
 * every later write on behalf of the sync checks. Taking first ends the sessions of older epochs
 * that hold the sync's row or its round lock (an owner paused by the OS or a collector would hold
 * them until it runs again), then raises the epoch, waiting at most a second, and again, for a
 * transaction that checked the old epoch meanwhile.
 */
public final class Ownership {
    /** A sync's owner as the control database records it. */
    public record Owner(String engine, Instant since, long epoch) {
    }

    private static final int ATTEMPTS = 10;

    private final DataSource control;

    public Ownership(DataSource control) {
        this.control = control;
    }

    /**
     * Takes {@code sync} for {@code engine}, unless another engine owns it and {@code stillRuns}
     * says that engine still runs it. Empty when the sync is gone or its owner still runs it; an
     * {@link IbexException} when the control database cannot be written.
     */
    public Optional<Fence> take(String sync, String engine, Predicate<String> stillRuns) {
        try (Connection c = control.getConnection()) {
            for (int attempt = 1; ; attempt++) {
                Optional<Owner> now = owner(c, sync);
                if (now.isEmpty()) {
                    return Optional.empty();
                }
                Owner o = now.get();
                if (o.engine() != null && !o.engine().equals(engine) && stillRuns.test(o.engine())) {
                    return Optional.empty();
                }
                // every session of this sync's current epoch or older is stale from now on
                new Fence(sync, o.epoch() + 1).endStale(c);
                try {
                    Optional<Fence> raised = raise(c, sync, engine, o.epoch());
                    if (raised.isPresent()) {
                        // an older owner's session may have taken the round lock meanwhile
                        raised.get().endStale(c);
                        return raised;
                    }
                } catch (SQLException e) {
                    if (!SqlErrors.isLockNotAvailable(e) || attempt >= ATTEMPTS) {
                        throw e;
                    }
                }
            }
        } catch (SQLException e) {
            throw new IbexException("control database: taking sync " + sync + ": " + Redactor.firstLine(e.getMessage()), e);
        }
    }

    /**
     * Raises the epoch from {@code from} to the next of {@code ibex.sync_epoch} (above every epoch of
     * every sync so far) and names the owner; empty when someone else raised it first.
     */
    private static Optional<Fence> raise(Connection c, String sync, String engine, long from) throws SQLException {
        c.setAutoCommit(false);
        try (Statement s = c.createStatement()) {
            s.execute("set local lock_timeout = " + Fence.TAKE_WAIT.toMillis());
            try (PreparedStatement ps = c.prepareStatement("update ibex.sync set epoch = nextval('ibex.sync_epoch'), owner_engine = ?, "
                    + "owner_since = now() where name = ? and epoch = ? returning epoch")) {
                ps.setString(1, engine);
                ps.setString(2, sync);
                ps.setLong(3, from);
                Optional<Fence> raised;
                try (ResultSet rs = ps.executeQuery()) {
                    raised = rs.next() ? Optional.of(new Fence(sync, rs.getLong(1))) : Optional.empty();
                }
                c.commit();
                return raised;
            }
        } catch (SQLException | RuntimeException e) {
            c.rollback();
            throw e;
        } finally {
            c.setAutoCommit(true);
        }
    }

    /** The sync's owner (its engine null when none), or empty when the sync is gone. */
    public Optional<Owner> owner(String sync) {
        try (Connection c = control.getConnection()) {
            return owner(c, sync);
        } catch (SQLException e) {
            throw new IbexException("control database: reading the owner of sync " + sync + ": " + Redactor.firstLine(e.getMessage()), e);
        }
    }

    private static Optional<Owner> owner(Connection c, String sync) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("select owner_engine, owner_since, epoch from ibex.sync where name = ?")) {
            ps.setString(1, sync);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return Optional.empty();
                }
                Timestamp since = rs.getTimestamp(2);
                return Optional.of(new Owner(rs.getString(1), since == null ? null : since.toInstant(), rs.getLong(3)));
            }
        }
    }

    /** Gives the sync up (an engine stopping or handing it over): no owner until someone takes it; the epoch stays. */
    public void release(Fence fence) {
        try (Connection c = control.getConnection();
             PreparedStatement ps = c.prepareStatement("update ibex.sync set owner_engine = null, owner_since = null "
                     + "where name = ? and epoch = ?")) {
            ps.setString(1, fence.sync());
            ps.setLong(2, fence.epoch());
            ps.executeUpdate();
        } catch (SQLException e) {
            throw new IbexException("control database: releasing sync " + fence.sync() + ": " + Redactor.firstLine(e.getMessage()), e);
        }
    }

    /** Counts a write of the sync that its fence refused, with what was refused; best effort. */
    public void recordRejection(String sync, String what) {
        try (Connection c = control.getConnection();
             PreparedStatement ps = c.prepareStatement("update ibex.sync set fence_rejections = fence_rejections + 1, "
                     + "last_fence_rejection = ?, last_fence_rejection_at = now() where name = ?")) {
            ps.setString(1, Redactor.text(what));
            ps.setString(2, sync);
            ps.executeUpdate();
        } catch (SQLException e) {
            throw new IbexException("control database: counting a fence rejection of sync " + sync + ": "
                    + Redactor.firstLine(e.getMessage()), e);
        }
    }
}
