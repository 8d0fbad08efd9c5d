package dev.ibex.engine.install;

import static dev.ibex.schema.control.jooq.Tables.SCHEMA_CHANGE;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.db.SqlErrors;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.jooq.Record;

/**
 * Schema changes committed with two-phase commit: the control database records a change's global
 * transaction id before any node prepares it, says when every node has prepared it (from then on
 * the change commits), and forgets it once every node committed or rolled back. A change left
 * prepared on a node (the command died, a connection was lost between PREPARE and COMMIT
 * PREPARED) is resolved from that record by the next {@code ibex schema apply} of its sync.
 */
final class PreparedChanges {
    static final String PREPARING = "preparing";
    static final String COMMITTING = "committing";

    /** What resolving one leftover change did: the tables to resume, and per node what happened. */
    record Resolved(String gid, List<TableRef> paused, List<String> done, boolean complete) {
    }

    private final ControlStore control;

    PreparedChanges(ControlStore control) {
        this.control = control;
    }

    ControlStore control() {
        return control;
    }

    /** True when every node allows prepared transactions ({@code max_prepared_transactions > 0}). */
    static boolean supported(Map<NodeId, Connection> conns) throws SQLException {
        for (Connection c : conns.values()) {
            try (Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("select pg_catalog.current_setting('max_prepared_transactions')::int")) {
                rs.next();
                if (rs.getInt(1) == 0) {
                    return false;
                }
            }
        }
        return true;
    }

    static String newGid() {
        return "ibex_schema_" + UUID.randomUUID().toString().replace("-", "");
    }

    void record(String gid, String sync, String script, List<TableRef> paused) {
        control.dsl().insertInto(SCHEMA_CHANGE).set(SCHEMA_CHANGE.GID, gid).set(SCHEMA_CHANGE.SYNC_NAME, sync)
                .set(SCHEMA_CHANGE.SCRIPT, script).set(SCHEMA_CHANGE.PAUSED, paused.stream().map(PreparedChanges::text).toArray(String[]::new))
                .set(SCHEMA_CHANGE.STATE, PREPARING).execute();
    }

    void committing(String gid) {
        control.dsl().update(SCHEMA_CHANGE).set(SCHEMA_CHANGE.STATE, COMMITTING).where(SCHEMA_CHANGE.GID.eq(gid)).execute();
    }

    void forget(String gid) {
        control.dsl().deleteFrom(SCHEMA_CHANGE).where(SCHEMA_CHANGE.GID.eq(gid)).execute();
    }

    /**
     * Resolves every change of {@code sync} the control database still records: on each node where
     * its transaction is prepared, commits it when every node had prepared it, else rolls it back.
     * A change is forgotten once no node holds it prepared any more.
     */
    List<Resolved> resolve(String sync, Map<NodeId, Connection> conns) {
        List<Resolved> out = new ArrayList<>();
        for (Record r : control.dsl().selectFrom(SCHEMA_CHANGE).where(SCHEMA_CHANGE.SYNC_NAME.eq(sync)).orderBy(SCHEMA_CHANGE.STARTED_AT).fetch()) {
            String gid = r.get(SCHEMA_CHANGE.GID);
            boolean commit = COMMITTING.equals(r.get(SCHEMA_CHANGE.STATE));
            List<String> done = new ArrayList<>();
            boolean complete = true;
            for (Map.Entry<NodeId, Connection> e : conns.entrySet()) {
                try {
                    if (isPrepared(e.getValue(), gid)) {
                        finish(e.getValue(), gid, commit);
                        done.add("node " + e.getKey() + ": " + (commit ? "committed" : "rolled back"));
                    }
                } catch (SQLException ex) {
                    complete = false;
                    done.add("node " + e.getKey() + ": " + Redactor.firstLine(SqlErrors.message(ex)));
                }
            }
            if (complete) {
                forget(gid);
            }
            List<TableRef> paused = java.util.Arrays.stream(r.get(SCHEMA_CHANGE.PAUSED)).map(TableRef::parse).toList();
            out.add(new Resolved(gid, paused, done, complete));
        }
        return out;
    }

    private static boolean isPrepared(Connection c, String gid) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("select 1 from pg_catalog.pg_prepared_xacts where gid = ? "
                + "and database = pg_catalog.current_database()")) {
            ps.setString(1, gid);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        }
    }

    /** PREPARE TRANSACTION on {@code c}'s open transaction; the session is then outside any transaction. */
    static void prepare(Connection c, String gid) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute("prepare transaction " + literal(gid));
        }
        c.setAutoCommit(true);
    }

    /** COMMIT PREPARED or ROLLBACK PREPARED (they take a literal, not a parameter). */
    static void finish(Connection c, String gid, boolean commit) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute((commit ? "commit prepared " : "rollback prepared ") + literal(gid));
        }
    }

    private static String literal(String gid) {
        if (!gid.matches("[a-z0-9_]+")) {
            throw new IllegalArgumentException("not a gid of Ibex: " + gid);
        }
        return "'" + gid + "'";
    }

    private static String text(TableRef t) {
        return t.toString();
    }
}
