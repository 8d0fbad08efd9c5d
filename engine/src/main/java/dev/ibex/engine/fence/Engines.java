package dev.ibex.engine.fence;

import dev.ibex.engine.IbexException;
import dev.ibex.engine.db.Redactor;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import javax.sql.DataSource;

/**
 * The engines that run against a control database, as each last said of itself in
 * {@code ibex.engine}: every engine writes its row every {@link #HEARTBEAT_EVERY}, so that
 * {@code ibex engines} answers from the control database alone, and so that a standalone engine
 * can tell an owner that stopped (its heartbeat older than {@link #STALE_AFTER}, or its state
 * {@code stopped}) from one that still runs.
 */
public final class Engines {
    public static final Duration HEARTBEAT_EVERY = Duration.ofSeconds(2);
    public static final Duration STALE_AFTER = Duration.ofSeconds(10);
    /** The states an engine writes of itself besides its cluster membership's ({@code up}, {@code joining}...). */
    public static final String STOPPING = "stopping";
    public static final String STOPPED = "stopped";

    /** One engine's row. */
    public record EngineRow(String name, String address, String state, String version, Long pid, Instant started,
                            Instant heartbeat, int syncsOwned, long heartbeatAgeMillis) {
        /** True while the engine says it runs and its heartbeat is recent. */
        public boolean running() {
            return !STOPPED.equals(state) && heartbeatAgeMillis <= STALE_AFTER.toMillis();
        }
    }

    private final DataSource control;

    public Engines(DataSource control) {
        this.control = control;
    }

    /** Writes this engine's row: its state, and how many syncs it owns now (counted in the control database). */
    public void heartbeat(String name, String address, String state, String version, Instant started) {
        String sql = "insert into ibex.engine as e (name, address, state, version, pid, started_at, heartbeat_at, syncs_owned) "
                + "values (?, ?, ?, ?, ?, ?, now(), (select count(*) from ibex.sync s where s.owner_engine = ?)) "
                + "on conflict (name) do update set address = excluded.address, state = excluded.state, version = excluded.version, "
                + "pid = excluded.pid, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, "
                + "syncs_owned = excluded.syncs_owned";
        try (Connection c = control.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, name);
            ps.setString(2, address);
            ps.setString(3, state);
            ps.setString(4, version);
            ps.setLong(5, ProcessHandle.current().pid());
            ps.setTimestamp(6, Timestamp.from(started));
            ps.setString(7, name);
            ps.executeUpdate();
        } catch (SQLException e) {
            throw new IbexException("control database: recording engine " + name + ": " + Redactor.firstLine(e.getMessage()), e);
        }
    }

    /** Every engine on record, by name. */
    public List<EngineRow> list() {
        String sql = "select name, address, state, version, pid, started_at, heartbeat_at, syncs_owned, "
                + "(extract(epoch from now() - heartbeat_at) * 1000)::bigint from ibex.engine order by name";
        try (Connection c = control.getConnection(); PreparedStatement ps = c.prepareStatement(sql); ResultSet rs = ps.executeQuery()) {
            List<EngineRow> out = new ArrayList<>();
            while (rs.next()) {
                long pid = rs.getLong(5);
                out.add(new EngineRow(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4), rs.wasNull() ? null : pid,
                        rs.getTimestamp(6).toInstant(), rs.getTimestamp(7).toInstant(), rs.getInt(8), rs.getLong(9)));
            }
            return out;
        } catch (SQLException e) {
            throw new IbexException("control database: listing engines: " + Redactor.firstLine(e.getMessage()), e);
        }
    }

    /** True when the named engine's row says it runs, with a recent heartbeat. */
    public boolean running(String name) {
        return list().stream().anyMatch(e -> e.name().equals(name) && e.running());
    }
}
