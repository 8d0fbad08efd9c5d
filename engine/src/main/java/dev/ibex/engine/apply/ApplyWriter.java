package dev.ibex.engine.apply;

import dev.ibex.engine.CrashPoints;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.db.ShapeSql;
import dev.ibex.engine.window.Snapshot;
import dev.ibex.engine.window.TxId;
import dev.ibex.engine.window.WatermarkStore;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;

/**
 * Writes decided rows to one target in one transaction under {@code session_replication_role =
 * replica} (no trigger fires for replicated writes): one COPY into a session's temporary table, then
 * one statement that locks, checks, deletes, updates, inserts and records the new versions in the
 * ledger, set-based. Watermarks, when given, commit in the same transaction.
 *
 * <p>The apply never overwrites what an application wrote since the round read the row: a row is
 * written only if it is still the version the round saw (same {@code xmin}, locked with {@code SKIP
 * LOCKED} so that a row an application holds is skipped rather than waited for); a row the round saw
 * absent is inserted only if nothing was logged for its key since the target's fold and nobody
 * inserted it meanwhile ({@code ON CONFLICT DO NOTHING}). What is skipped this way is the
 * application's change, which the target's log holds: a later round decides that key again. Rows
 * skipped because they were locked ({@code busy}) are not in any log, so the target's watermarks do
 * not advance and the next round reads them again. Any other lock wait ends after 200 ms (the apply
 * is retried), so an application never waits long on Ibex.
 *
 * <p>With row bases, a row sent to confirm a target's own winning change clears the target's base;
 * if the target changed the row again meanwhile, its base becomes the decided row instead: that is
 * what the new change was made on.
 */
public final class ApplyWriter {
    private static final String META = """
            null::boolean as "ibex#del", null::boolean as "ibex#present", null::xid as "ibex#xmin", null::bigint[] as "ibex#vv",
            null::timestamptz as "ibex#ts", null::integer as "ibex#origin", null::boolean as "ibex#confirm\"""";

    private static final String CREATE_TEMP = "create temp table if not exists {tmp} on commit delete rows as select {cols:t}, "
            + META + " from {table} t with no data";

    /** Parameters: the target's fold snapshot's xmax and in-progress xids (32-bit). */
    private static final String APPLY = """
            with p as (select pg_catalog.age(?::xid) as ax, ?::xid[] as xip),
            lk as (select {keys:a} from {table} t join {tmp} a on {match:t,a}
                    where a."ibex#present" and t.xmin = a."ibex#xmin" for update of t skip locked),
            del as (delete from {table} t using lk, {tmp} a where {match:t,lk} and {match:a,lk} and a."ibex#del" returning {keys:a}),
            upd as (update {table} t set {set:a} from lk, {tmp} a
                     where {match:t,lk} and {match:a,lk} and not a."ibex#del" returning {keys:a}),
            fresh as (select a.* from {tmp} a where not a."ibex#present" and not exists (
                        select 1 from (select {keys:e}, e.xmin from {log0} e union all select {keys:e}, e.xmin from {log1} e) e, p
                         where {match:e,a} and (pg_catalog.age(e.xmin) <= p.ax or e.xmin = any(p.xip)))),
            ins as (insert into {table} ({cols}) select {cols:a} from fresh a where not a."ibex#del"
                    on conflict do nothing returning {keys}),
            gone as (select {keys:a} from fresh a where a."ibex#del"),
            done as (select {keys} from del union all select {keys} from upd union all select {keys} from ins
                     union all select {keys} from gone),
            lu as (update {ledger} l set ibex_vv = a."ibex#vv", ibex_local = 0, ibex_ts = a."ibex#ts", ibex_origin = a."ibex#origin",
                          ibex_base = null, ibex_base_vv = null
                     from done d, {tmp} a where {match:l,d} and {match:a,d} returning {keys:l}),
            li as (insert into {ledger} ({keys}, ibex_vv, ibex_local, ibex_ts, ibex_origin)
                   select {keys:a}, a."ibex#vv", 0, a."ibex#ts", a."ibex#origin" from done d join {tmp} a on {match:a,d}
                    where not exists (select 1 from lu where {match:lu,d}) returning 1)%s
            select (select count(*) from done), (select count(*) from {tmp} a where a."ibex#present") - (select count(*) from lk),
                   (select count(*) from li)""";

    /** With bases: a confirmed row that the target changed again gets the decided row as its base. */
    private static final String REBASE = """
            ,
            rebased as (update {ledger} l set ibex_base = case when a."ibex#del" then '{}'::text[] else array[{cols_text:a}]::text[] end,
                               ibex_base_vv = a."ibex#vv"
                          from {tmp} a where {match:l,a} and a."ibex#confirm" and l.ibex_base is not null
                           and not exists (select 1 from {table} t where {match:t,a} and t.xmin = a."ibex#xmin")
                           and not exists (select 1 from done d where {match:d,a}) returning 1)
            """;

    /** Rows still as the round saw them after the apply: skipped because an application held them locked. */
    private static final String BUSY = "select count(*) from {tmp} a join {table} t on {match:t,a} "
            + "where a.\"ibex#present\" and t.xmin = a.\"ibex#xmin\"";

    private final TableShape shape;
    private final String createTemp;
    private final String copy;
    private final String apply;
    private final String busySql;

    public ApplyWriter(TableShape shape, boolean bases) {
        this.shape = shape;
        ShapeSql sql = new ShapeSql(shape);
        String tmp = "pg_temp." + tempName(shape);
        this.createTemp = sql.render(CREATE_TEMP.replace("{tmp}", tmp));
        this.copy = sql.render("copy " + tmp + " ({cols}, \"ibex#del\", \"ibex#present\", \"ibex#xmin\", \"ibex#vv\", \"ibex#ts\", "
                + "\"ibex#origin\", \"ibex#confirm\") from stdin");
        this.apply = sql.render(APPLY.formatted(bases ? REBASE : "").replace("{tmp}", tmp));
        this.busySql = sql.render(BUSY.replace("{tmp}", tmp));
    }

    /**
     * Applies {@code changes} and, if {@code watermarks} is non-empty and no row was busy, records
     * them, all in one transaction that commits before this returns.
     *
     * @param folded the snapshot of the target's fold in this round: log entries it does not see
     *               are changes the round has not decided
     */
    public ApplyResult apply(Connection c, String node, List<RowChange> changes, Snapshot folded, Map<String, TxId> watermarks) {
        try {
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.execute("set local session_replication_role = replica; set local lock_timeout = '200ms'");
                ApplyResult r = changes.isEmpty() ? ApplyResult.NONE : write(c, s, changes, folded);
                if (r.busy() == 0) {
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
        } catch (SQLException e) {
            throw new IbexException("node " + node + ", table " + shape.table() + ": applying " + changes.size()
                    + " rows failed: " + e.getMessage(), e);
        }
    }

    private ApplyResult write(Connection c, Statement s, List<RowChange> changes, Snapshot folded) throws SQLException {
        s.execute(createTemp);
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
        try (PreparedStatement ps = c.prepareStatement(apply)) {
            ps.setString(1, Long.toString(folded.xmax32()));
            ps.setArray(2, c.createArrayOf("text", folded.xip32()));
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                applied = rs.getLong(1);
                notLocked = rs.getLong(2);
            }
        }
        long busy = 0;
        if (notLocked > 0) {
            try (ResultSet rs = s.executeQuery(busySql)) {
                rs.next();
                busy = rs.getLong(1);
            }
        }
        return new ApplyResult(applied, changes.size() - applied - busy, busy);
    }

    /** The session's temporary table for this shape: a new shape (a column added, a type changed) gets a new one. */
    private static String tempName(TableShape shape) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update(shape.table().ledgerName().getBytes(StandardCharsets.UTF_8));
            shape.columns().forEach(col -> d.update((col.name() + "\u0000" + col.type() + "\u0000").getBytes(StandardCharsets.UTF_8)));
            return "ibex_apply_" + HexFormat.of().formatHex(d.digest(), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
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

    static String timestamp(long micros) {
        return Instant.ofEpochSecond(Math.floorDiv(micros, 1_000_000), Math.floorMod(micros, 1_000_000) * 1000L).toString();
    }
}
