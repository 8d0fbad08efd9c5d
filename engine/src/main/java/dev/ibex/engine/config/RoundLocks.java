package dev.ibex.engine.config;

import dev.ibex.engine.IbexException;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.db.SqlErrors;
import dev.ibex.engine.fence.Fence;
import java.time.Duration;
import java.util.Optional;
import javax.sql.DataSource;
import org.jooq.DSLContext;

/**
 * Each sync's round lock (an advisory lock on the control database, on connections of their own
 * so that held locks never starve other work) and the kick that wakes a running engine.
 */
public final class RoundLocks {
    private final DataSource locks;
    private final DSLContext dsl;
    private final SyncCatalog syncs;

    RoundLocks(DataSource locks, DSLContext dsl, SyncCatalog syncs) {
        this.locks = locks;
        this.dsl = dsl;
        this.syncs = syncs;
    }

    /** A held round lock of a sync; closing it releases it. */
    public interface RoundLock extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Takes the sync's round lock (a PostgreSQL advisory lock on the control database) if nobody
     * holds it: an engine holds it for each round, so two engines never run rounds of one sync at
     * once, and 'ibex node resync' takes it to wait for the round in progress. Empty when held.
     */
    public Optional<RoundLock> tryLock(String sync) {
        return roundLock("ibex round", sync, "select pg_try_advisory_lock(hashtext('ibex round'), hashtext(?))", null, null);
    }

    /**
     * The same for the sync's owner at {@code fence}: while it holds the lock, its session is named
     * after the fence, so that a later owner can end it ({@link Fence#endStale}) if this engine
     * stops responding while it holds the lock.
     */
    public Optional<RoundLock> tryLock(Fence fence) {
        return roundLock("ibex round", fence.sync(), "select l and pg_catalog.set_config('application_name', ?, false) is not null from "
                + "(select pg_try_advisory_lock(hashtext('ibex round'), hashtext(?)) l) x", null, fence.sessionName());
    }

    /** Takes the sync's round lock, waiting at most {@code wait} for the round in progress; fails after that. */
    public RoundLock lock(String sync, Duration wait) {
        return roundLock("ibex round", sync, "select count(*) = 1 from (select pg_advisory_lock(hashtext('ibex round'), hashtext(?))) x", wait, null)
                .orElseThrow(() -> new IbexException("sync " + sync + ": could not take its round lock"));
    }

    /**
     * Takes the sync's copy lock, held while a node is being copied into the sync ('ibex node resync',
     * 'ibex sync add-node'): rounds start no ledger purge while it is held, since the node being
     * copied is left out of them and would keep entries the others forgot. Refused when another copy
     * into the sync holds it. Closing it (or the end of the session, on a crash) releases it.
     */
    public RoundLock copyLock(String sync) {
        return roundLock("ibex copy", sync, "select pg_try_advisory_lock(hashtext('ibex copy'), hashtext(?))", null, null)
                .orElseThrow(() -> new UsageException("sync " + sync + ": another node is being copied into it ('ibex sync add-node' "
                        + "or 'ibex node resync' is running); run this again when it has finished"));
    }

    /** Whether a node is being copied into the sync now (someone holds its {@link #copyLock}). */
    public static boolean copying(DSLContext dsl, String sync) {
        return !dsl.fetchValue("select pg_try_advisory_xact_lock_shared(hashtext('ibex copy'), hashtext(?))", sync)
                .equals(Boolean.TRUE);
    }

    /** @param space the lock's first key: {@code ibex round} or {@code ibex copy}, as {@code sql} takes it */
    private Optional<RoundLock> roundLock(String space, String sync, String sql, Duration wait, String sessionName) {
        java.sql.Connection c = null;
        try {
            c = locks.getConnection();
            if (wait != null) {
                try (var st = c.createStatement()) {
                    st.execute("set lock_timeout = " + wait.toMillis());
                }
            }
            boolean taken;
            try (var ps = c.prepareStatement(sql)) {
                if (sessionName != null) {
                    ps.setString(1, sessionName);
                    ps.setString(2, sync);
                } else {
                    ps.setString(1, sync);
                }
                try (var rs = ps.executeQuery()) {
                    rs.next();
                    taken = rs.getBoolean(1);
                }
            }
            if (wait != null) {
                try (var st = c.createStatement()) {
                    st.execute("reset lock_timeout");
                }
            }
            if (!taken) {
                c.close();
                return Optional.empty();
            }
            java.sql.Connection held = c;
            return Optional.of(() -> {
                try (held; var ps = held.prepareStatement("select pg_advisory_unlock(hashtext('" + space + "'), hashtext(?)), "
                        + "pg_catalog.set_config('application_name', 'ibex', false)")) {
                    ps.setString(1, sync);
                    ps.execute();
                } catch (java.sql.SQLException e) {
                    // closing the session releases the lock anyway
                }
            });
        } catch (java.sql.SQLException e) {
            closeQuietly(c);
            if (SqlErrors.isLockNotAvailable(e)) {
                throw new IbexException("sync " + sync + ": a round is still running after " + DurationText.format(wait)
                        + "; try again when it has finished", e);
            }
            throw ControlStore.failure("taking the round lock of sync " + sync, e);
        }
    }

    private static void closeQuietly(java.sql.Connection c) {
        if (c != null) {
            try {
                c.close();
            } catch (java.sql.SQLException ignored) {
                // already broken
            }
        }
    }

    /** Asks a running engine to start a round of {@code sync} now (NOTIFY on the control database). */
    public void kick(String sync) {
        syncs.get(sync);
        dsl.execute("select pg_notify('ibex_kick', ?)", sync);
    }
}
