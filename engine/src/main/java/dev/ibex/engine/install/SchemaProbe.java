package dev.ibex.engine.install;

import dev.ibex.engine.IbexException;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.db.SqlErrors;
import dev.ibex.engine.install.SchemaChangePlanner.Column;
import dev.ibex.engine.install.SchemaChangePlanner.DryRun;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.sql.DataSource;
import java.time.Duration;
import dev.ibex.engine.db.Idents;

/**
 * Runs a DDL script on one node inside a transaction that it always rolls back, and reads what the
 * script did from the catalog: every user table's columns (by {@code attnum}) and key (the primary
 * key, else the unique index {@code ibex.key_index} picks, as capture does) before and after, the
 * rows it inserted, updated or deleted ({@code pg_stat_xact_user_tables}, which counts the open
 * transaction and is flushed only outside one), and whether a column it added
 * to a table of the sync has a default that is not immutable (PostgreSQL refuses such an expression
 * as a stored generated column). Nothing the script did survives.
 */
final class SchemaProbe {
    private static final String TABLES = """
            select n.nspname, c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                   coalesce((select k.ord from unnest(i.indkey) with ordinality k(attnum, ord) where k.attnum = a.attnum), 0)
              from pg_catalog.pg_class c
              join pg_catalog.pg_namespace n on n.oid = c.relnamespace
              join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
              left join pg_catalog.pg_index i on i.indexrelid = ibex.key_index(c.oid)
             where c.relkind in ('r', 'p') and not c.relispartition and c.relpersistence <> 't'
               and n.nspname <> 'ibex' and n.nspname <> 'information_schema' and n.nspname !~ '^pg_'
             order by 1, 2, 3""";
    private static final String ROWS = "select schemaname || '.' || relname, n_tup_ins + n_tup_upd + n_tup_del "
            + "from pg_catalog.pg_stat_xact_user_tables";
    private static final String DEFAULT = """
            select pg_catalog.pg_get_expr(d.adbin, d.adrelid), format_type(a.atttypid, a.atttypmod), a.attidentity <> ''
              from pg_catalog.pg_attribute a
              join pg_catalog.pg_class c on c.oid = a.attrelid
              join pg_catalog.pg_namespace n on n.oid = c.relnamespace
              left join pg_catalog.pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
             where n.nspname = ? and c.relname = ? and a.attnum = ?""";

    private SchemaProbe() {
    }

    /**
     * The dry run of {@code script} on node {@code node}; a script the node refuses is bad input
     * (nothing changed). When the node refuses it because Ibex's capture triggers depend on what it
     * changes (they name the key columns), the script is tried again with those triggers dropped in
     * the rolled-back transaction, so that the planner can say what the script would do to the key;
     * the node's own refusal travels with the result.
     */
    static DryRun dryRun(DataSource pool, String node, String script, Set<TableRef> syncTables, Duration lockTimeout) {
        try {
            return attempt(pool, node, script, syncTables, lockTimeout, null);
        } catch (Refused first) {
            if (!first.blockedByCapture()) {
                throw first.usage(node);
            }
            try {
                return attempt(pool, node, script, syncTables, lockTimeout, "node " + node + " refused the script in a dry run: "
                        + Redactor.firstLine(SqlErrors.message(first.error)));
            } catch (Refused second) {
                throw first.usage(node);
            }
        }
    }

    /** The script refused by the node. */
    private static final class Refused extends Exception {
        final SQLException error;

        Refused(SQLException error) {
            super(error);
            this.error = error;
        }

        /** 2BP01 (objects depend on it), 0A000 (a column used in a trigger definition). */
        boolean blockedByCapture() {
            return "2BP01".equals(error.getSQLState()) || "0A000".equals(error.getSQLState());
        }

        RuntimeException usage(String node) {
            if (SqlErrors.isLockNotAvailable(error)) {
                return new IbexException("node " + node + ": the dry run waited longer than the lock timeout for a table lock (a long "
                        + "transaction holds it); nothing changed: try again, or give a longer --lock-timeout", error);
            }
            if ("25001".equals(error.getSQLState())) {
                return new UsageException("the script cannot run inside a transaction block (" + Redactor.firstLine(SqlErrors.message(error))
                        + "): drop CONCURRENTLY (or run it on each node by hand); Ibex runs the change in one transaction per node");
            }
            return new UsageException("node " + node + " refused the script in a dry run: " + Redactor.firstLine(SqlErrors.message(error))
                    + "; fix the script (nothing changed)", error);
        }
    }

    private static DryRun attempt(DataSource pool, String node, String script, Set<TableRef> syncTables, Duration lockTimeout,
                                  String blockedByCapture) throws Refused {
        try (Connection c = pool.getConnection()) {
            c.setAutoCommit(false);
            try {
                try (Statement st = c.createStatement()) {
                    st.execute("set local lock_timeout = " + lockTimeout.toMillis());
                }
                if (blockedByCapture != null) {
                    dropCaptureTriggers(c, syncTables);
                }
                Map<TableRef, List<Column>> before = tables(c);
                Map<String, Long> rowsBefore = rowCounts(c);
                try (Statement st = c.createStatement()) {
                    st.execute(script);
                } catch (SQLException e) {
                    throw new Refused(e);
                }
                Map<TableRef, List<Column>> after = tables(c);
                List<String> changedRows = new ArrayList<>();
                rowCounts(c).forEach((rel, n) -> {
                    if (n > rowsBefore.getOrDefault(rel, 0L)) {
                        changedRows.add(rel);
                    }
                });
                List<String> mutable = mutableDefaults(c, syncTables, before, after);
                return new DryRun(before, after, changedRows, mutable, blockedByCapture);
            } finally {
                rollbackQuietly(c);
            }
        } catch (SQLException e) {
            if (SqlErrors.isLockNotAvailable(e)) {
                throw new Refused(e);
            }
            throw new IbexException("node " + node + ": the dry run of the script failed: " + Redactor.firstLine(SqlErrors.message(e))
                    + "; nothing changed", e);
        }
    }

    private static void dropCaptureTriggers(Connection c, Set<TableRef> tables) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("select ibex.drop_capture_triggers(r) from to_regclass(?) r where r is not null")) {
            for (TableRef t : tables) {
                ps.setString(1, Idents.name(t.schema(), t.name()));
                ps.execute();
            }
        }
    }

    private static void rollbackQuietly(Connection c) {
        try {
            if (!c.isClosed()) {
                c.rollback();
                c.setAutoCommit(true);
            }
        } catch (SQLException ignored) {
            // the pool evicts a connection that failed; its transaction ends with it
        }
    }

    static Map<TableRef, List<Column>> tables(Connection c) throws SQLException {
        Map<TableRef, List<Column>> out = new LinkedHashMap<>();
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(TABLES)) {
            while (rs.next()) {
                out.computeIfAbsent(new TableRef(rs.getString(1), rs.getString(2)), t -> new ArrayList<>())
                        .add(new Column(rs.getInt(3), rs.getString(4), rs.getString(5), rs.getBoolean(6), rs.getInt(7)));
            }
        }
        return out;
    }

    private static Map<String, Long> rowCounts(Connection c) throws SQLException {
        Map<String, Long> out = new HashMap<>();
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(ROWS)) {
            while (rs.next()) {
                out.put(rs.getString(1), rs.getLong(2));
            }
        }
        return out;
    }

    /** Columns the script added to tables of the sync whose default is not immutable, as {@code table.column (default)}. */
    private static List<String> mutableDefaults(Connection c, Set<TableRef> syncTables, Map<TableRef, List<Column>> before,
                                                Map<TableRef, List<Column>> after) throws SQLException {
        List<String> out = new ArrayList<>();
        for (TableRef t : syncTables) {
            if (!before.containsKey(t) || !after.containsKey(t)) {
                continue;
            }
            int highest = before.get(t).stream().mapToInt(Column::number).max().orElse(0);
            for (Column added : after.get(t).stream().filter(col -> col.number() > highest).toList()) {
                String[] def = defaultOf(c, t, added.number());
                if (def != null && (def[0] == null || !immutable(c, def[0], def[1]))) {
                    out.add(t + "." + added.name() + " (" + (def[0] == null ? "an identity column" : "default " + def[0]) + ")");
                }
            }
        }
        return out;
    }

    /** The column's default and type; null expression for an identity column (its sequence differs per node); null when neither. */
    private static String[] defaultOf(Connection c, TableRef t, int column) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(DEFAULT)) {
            ps.setString(1, t.schema());
            ps.setString(2, t.name());
            ps.setInt(3, column);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next() || rs.getString(1) == null && !rs.getBoolean(3)) {
                    return null;
                }
                return new String[] {rs.getBoolean(3) ? null : rs.getString(1), rs.getString(2)};
            }
        }
    }

    /**
     * Whether PostgreSQL accepts {@code expression} as a stored generated column of {@code type},
     * which it does only for immutable expressions (42P17 otherwise); tried in a savepoint on a
     * temporary table. The expression is the node's own rendering of the script's default.
     */
    private static boolean immutable(Connection c, String expression, String type) throws SQLException {
        Savepoint sp = c.setSavepoint();
        try (Statement st = c.createStatement()) {
            st.execute("create temporary table ibex_default_probe (probe " + type + " generated always as (" + expression + ") stored)");
            return true;
        } catch (SQLException e) {
            if ("42P17".equals(e.getSQLState())) {
                return false;
            }
            throw e;
        } finally {
            c.rollback(sp);
        }
    }
}
