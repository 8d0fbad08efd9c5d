package dev.ibex.engine.apply;

import dev.ibex.engine.CrashPoints;
import dev.ibex.engine.fence.Fence;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.db.Idents;
import dev.ibex.engine.capture.ShapeSql;
import dev.ibex.engine.db.SqlErrors;
import dev.ibex.engine.window.Snapshot;
import dev.ibex.engine.window.TxId;
import dev.ibex.engine.window.WatermarkStore;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.postgresql.PGConnection;
import org.postgresql.PGStatement;
import org.postgresql.copy.CopyIn;

/**
 * Writes rows to one target in one transaction under {@code session_replication_role = replica}
 * (no trigger fires for replicated writes; a round's writer is a replica for its whole session, see
 * {@code NodeDirectory.writers}, and the transaction says so again for any other connection): one
 * COPY into a session's temporary table (unindexed: it is emptied at every commit, and an index would
 * be too), then one statement that checks, deletes, updates, inserts and records the new versions in the ledger,
 * set-based, the temporary table driving every join. Watermarks, when given, commit in the same
 * transaction.
 *
 * <p>A row is written only if it is still what the round saw (same {@code xmin}), a row the round
 * saw absent only if nothing was logged for its key since the target's fold and nobody inserted it
 * meanwhile, so the apply never overwrites what an application wrote: such a change is in the
 * target's log, and a later round decides the key again. UPDATE and DELETE compare the row's {@code
 * xmin} again on the version they lock, so a change committed after the statement began is kept too.
 * The optimistic form waits at most 50 ms for a row lock; if an application holds one longer, the
 * chunk is applied again in the careful form, which locks with {@code SKIP LOCKED} and leaves the
 * rows it cannot lock ({@code busy}: they are in no log, so the target's watermarks do not advance).
 * Any other lock wait ends after 200 ms (the apply is retried), so an application never waits long
 * on Ibex.
 *
 * <p>With row bases, a row sent to confirm a target's own winning change clears the target's base;
 * if the target changed the row again meanwhile, its base becomes the decided row instead: that is
 * what the new change was made on.
 */
public final class ApplyWriter {
    private static final String CREATE_TEMP = "create temp table if not exists {tmp} ({column_defs}, \"ibex#del\" boolean, "
            + "\"ibex#present\" boolean, \"ibex#xmin\" xid, \"ibex#vv\" bigint[], \"ibex#ts\" bigint, \"ibex#origin\" integer, "
            + "\"ibex#confirm\" boolean) on commit delete rows";
    private static final String COPY = "copy {tmp} ({cols}, \"ibex#del\", \"ibex#present\", \"ibex#xmin\", \"ibex#vv\", \"ibex#ts\", "
            + "\"ibex#origin\", \"ibex#confirm\") from stdin";

    /**
     * {@code cand}: every row to write with the target's row ({@code ibex#txmin}) and whether to write
     * it ({@code ibex#go}: present and still as the round saw it, or absent and neither logged nor
     * inserted since); {@code lk}: the present ones to update or delete, locked or not by the form.
     * Parameters: the target's fold snapshot's xmax and in-progress xids (32-bit).
     */
    private static final String APPLY = """
            with p as (select pg_catalog.age(?::xid) as ax, ?::xid[] as xip),
            e as (select {keys:e}, e.xmin from (select {keys:e}, e.xmin from {log0} e union all select {keys:e}, e.xmin from {log1} e) e, p
                   where pg_catalog.age(e.xmin) <= p.ax or e.xmin = any(p.xip)),
            u as (select distinct {keys:e} from e where {first_key:e} is not null),
            m as (select coalesce(array_agg(e.xmin), '{}') as x from e where {first_key:e} is null),
            cand as (select a.*, t.xmin as "ibex#txmin",
                            case when a."ibex#present" then t.xmin is not distinct from a."ibex#xmin"
                                 else t.xmin is null and {first_key:u} is null end as "ibex#go"
                       from {tmp} a left join {table} t on {match:t,a} left join u on {match:u,a}),
            lk as (%1$s),
            del as (delete from {table} t using lk c where {match:t,c} and c."ibex#del" and t.xmin = c."ibex#txmin" returning {keys:c}),
            upd as (update {table} t set {set:c} from lk c where {match:t,c} and not c."ibex#del" and t.xmin = c."ibex#txmin"
                    returning {keys:c}),
            ins as (insert into {table} ({cols}) select {cols:c} from cand c
                     where c."ibex#go" and c."ibex#txmin" is null and not c."ibex#del" on conflict do nothing returning {keys}),
            done as (select {keys} from del union all select {keys} from upd union all select {keys} from ins
                     union all select {keys:c} from cand c where c."ibex#go" and c."ibex#txmin" is null and c."ibex#del"),
            lw as (insert into {ledger} as l ({keys}, ibex_vv, ibex_local, ibex_ts, ibex_origin)
                   select {keys:a}, a."ibex#vv", 0, timestamptz 'epoch' + a."ibex#ts" * interval '1 microsecond', a."ibex#origin"
                     from done d join {tmp} a on {match:a,d}
                   on conflict ({keys}) do update set ibex_vv = excluded.ibex_vv, ibex_local = 0, ibex_ts = excluded.ibex_ts,
                                                      ibex_origin = excluded.ibex_origin, ibex_base = null, ibex_base_vv = null
                   returning 1)%2$s
            select (select count(*) from done),
                   (select count(*) from cand where "ibex#go" and "ibex#txmin" is not null) - (select count(*) from lk)
            """;

    private static final String LOCK_SKIPPING = "select c.* from cand c join {table} t on {match:t,c} where c.\"ibex#go\" "
            + "and c.\"ibex#txmin\" is not null and t.xmin = c.\"ibex#txmin\" for update of t skip locked";
    private static final String LOCK_NONE = "select c.* from cand c where c.\"ibex#go\" and c.\"ibex#txmin\" is not null";

    /** With bases: a confirmed row that the target changed again gets the decided row as its base. */
    private static final String REBASE = """
            ,
            rebased as (update {ledger} l set ibex_base = case when c."ibex#del" then '{}'::text[] else array[{cols_text:c}]::text[] end,
                               ibex_base_vv = c."ibex#vv"
                          from cand c where {match:l,c} and c."ibex#confirm" and l.ibex_base is not null and not c."ibex#go"
                          returning 1)
            """;

    /** Rows still as the round saw them after the apply: skipped because an application held them locked. */
    private static final String BUSY = "select count(*) from {tmp} a join {table} t on {match:t,a} "
            + "where a.\"ibex#present\" and t.xmin = a.\"ibex#xmin\"";

    /**
     * Chunks of at most this many rows are applied with a generic plan, which PgJDBC keeps prepared
     * and the server plans once per connection: for a few rows, planning the statement took two
     * thirds of its time (0.4 of 0.6 ms at 500 updates/s). A generic plan made for a temporary table
     * of a few hundred rows at most probes the table's indexes per row; larger chunks are planned at
     * every execution, for as many rows as they hold.
     */
    static final int GENERIC_PLAN_AT_MOST = 256;

    private final TableShape shape;
    private final String settings;
    private final String createTemp;
    private final String copy;
    private final String optimistic;
    private final String careful;
    private final String busySql;

    /**
     * @param bases whether the table tracks row bases
     * @param fence the epoch at which the engine owns the sync: each apply transaction checks it
     *              first, in the transaction that records the watermarks
     */
    public ApplyWriter(TableShape shape, boolean bases, Fence fence) {
        this.shape = shape;
        this.settings = "set local session_replication_role = replica; " + fence.checkStatement() + "; set local lock_timeout = ";
        ShapeSql sql = new ShapeSql(shape);
        String tmp = "pg_temp." + sql.tempName("apply", shape.columnNames());
        String columns = shape.columns().stream().map(c -> Idents.name(c.name()) + " " + c.type()).collect(Collectors.joining(", "));
        this.createTemp = sql.render(CREATE_TEMP.replace("{tmp}", tmp), Map.of("column_defs", columns));
        this.copy = sql.render(COPY.replace("{tmp}", tmp));
        String rebase = bases ? REBASE : "";
        this.optimistic = sql.render(APPLY.formatted(LOCK_NONE, rebase).replace("{tmp}", tmp));
        this.careful = sql.render(APPLY.formatted(LOCK_SKIPPING, rebase).replace("{tmp}", tmp));
        this.busySql = sql.render(BUSY.replace("{tmp}", tmp));
    }

    /**
     * Applies decided {@code changes} and, if {@code watermarks} is non-empty and no row was busy,
     * records them, all in one transaction that commits before this returns. The optimistic form
     * first, then the careful one if a row lock kept it waiting.
     *
     * @param folded the snapshot of the target's fold in this round: log entries it does not see
     *               are changes the round has not decided
     */
    public ApplyResult apply(Connection c, String node, List<RowChange> changes, Snapshot folded, Map<String, TxId> watermarks) {
        try {
            try {
                return transaction(c, changes, folded, watermarks, true);
            } catch (SQLException e) {
                if (!changes.isEmpty() && "55P03".equals(SqlErrors.state(e))) {
                    return transaction(c, changes, folded, watermarks, false);
                }
                throw e;
            }
        } catch (SQLException e) {
            throw new IbexException("node " + node + ", table " + shape.table() + ": applying " + changes.size()
                    + " rows failed: " + e.getMessage(), e);
        }
    }

    private ApplyResult transaction(Connection c, List<RowChange> changes, Snapshot folded, Map<String, TxId> watermarks,
                                    boolean optimistic) throws SQLException {
        c.setAutoCommit(false);
        try (Statement s = c.createStatement()) {
            // the settings and the temporary table in one round trip (with the transaction's start)
            boolean generic = !changes.isEmpty() && changes.size() <= GENERIC_PLAN_AT_MOST;
            s.execute(settings + (optimistic ? "'50ms'" : "'200ms'") + (generic ? "; set local plan_cache_mode = force_generic_plan" : "")
                    + (changes.isEmpty() ? "" : "; " + createTemp));
            // the optimistic form leaves no row busy: the watermarks go with its statement, in the same round trip
            Map<String, TxId> along = optimistic && !changes.isEmpty() ? watermarks : Map.of();
            ApplyResult r = changes.isEmpty() ? ApplyResult.NONE : write(c, changes, folded, optimistic ? this.optimistic : careful, along, generic);
            if (r.busy() == 0 && along.isEmpty()) {
                WatermarkStore.record(c, shape.table().ledgerName(), watermarks);
            }
            if (!changes.isEmpty()) {
                CrashPoints.reach(CrashPoints.APPLY_UNCOMMITTED);
            }
            c.commit();
            return r;
        } catch (SQLException | RuntimeException e) {
            rollbackQuietly(c);
            throw e;
        } finally {
            c.setAutoCommit(true);
        }
    }

    /** @param generic whether the transaction asked for a generic plan (a small chunk): the statement is then kept prepared */
    private ApplyResult write(Connection c, List<RowChange> changes, Snapshot folded, String sql, Map<String, TxId> watermarks,
                              boolean generic)
            throws SQLException {
        try (Statement s = c.createStatement()) {
            CopyIn in = c.unwrap(PGConnection.class).getCopyAPI().copyIn(copy);
            try {
                CopyText.send(in, shape, changes);
                in.endCopy();
            } catch (SQLException | RuntimeException e) {
                cancelQuietly(in, e);
                throw e;
            }
            long applied;
            long notLocked;
            String statements = watermarks.isEmpty() ? sql : sql + ";\n" + WatermarkStore.recording(watermarks.size());
            try (PreparedStatement ps = c.prepareStatement(statements)) {
                if (!generic) {
                    // planned at every execution, never from a cached plan: the best plan depends on how many rows the
                    // temporary table holds (index probes for a dozen, a hash join for thousands), which no parameter tells
                    ps.unwrap(PGStatement.class).setPrepareThreshold(0);
                }
                ps.setString(1, Long.toString(folded.xmax32()));
                ps.setArray(2, c.createArrayOf("text", folded.xip32()));
                WatermarkStore.bind(ps, 3, shape.table().ledgerName(), watermarks);
                if (!ps.execute()) {
                    throw new SQLException("the apply statement returned no counts");
                }
                try (ResultSet rs = ps.getResultSet()) {
                    rs.next();
                    applied = rs.getLong(1);
                    notLocked = rs.getLong(2);
                }
                while (ps.getMoreResults() || ps.getUpdateCount() != -1) {
                    // the watermarks' insert: nothing to read
                }
            }
            long busy = 0;
            if (notLocked > 0) {
                try (ResultSet rs = s.executeQuery(busySql)) {
                    rs.next();
                    busy = rs.getLong(1);
                }
            }
            return new ApplyResult(applied, Math.max(0, changes.size() - applied - busy), busy);
        }
    }

    /** Ends a failed COPY so that the transaction can roll back; a failure to do so never hides {@code cause}. */
    private static void cancelQuietly(CopyIn in, Exception cause) {
        try {
            if (in.isActive()) {
                in.cancelCopy();
            }
        } catch (SQLException e) {
            cause.addSuppressed(e);
        }
    }

    private static void rollbackQuietly(Connection c) {
        try {
            c.rollback();
        } catch (SQLException ignored) {
            // the connection is broken; the transaction is gone with it
        }
    }
}
