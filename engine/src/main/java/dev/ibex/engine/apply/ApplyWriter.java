package dev.ibex.engine.apply;

import dev.ibex.engine.CrashPoints;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.db.Idents;
import dev.ibex.engine.db.ShapeSql;
import dev.ibex.engine.db.SqlErrors;
import dev.ibex.engine.window.Snapshot;
import dev.ibex.engine.window.TxId;
import dev.ibex.engine.window.WatermarkStore;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;

/**
 * Writes rows to one target in one transaction under {@code session_replication_role = replica}
 * (no trigger fires for replicated writes): one COPY into a session's temporary table, then one
 * statement that checks, deletes, updates, inserts and records the new versions in the ledger,
 * set-based, the temporary table driving every join. Watermarks, when given, commit in the same
 * transaction.
 *
 * <p>Two forms. {@link #apply} writes rows the round decided: a row only if it is still what the
 * round saw (same {@code xmin}), a row the round saw absent only if nothing was logged for its key
 * since the target's fold and nobody inserted it meanwhile. {@link #applyDirect}, for a sync of two
 * nodes, writes a source's rows without the round having read the target: the statement itself
 * writes a row only where the target's version is dominated by the source's and no change to the
 * key waits in the target's log, and returns the other keys for the round to decide.
 *
 * <p>Either way the apply never overwrites what an application wrote: such a change is in the
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
            + "\"ibex#confirm\" boolean, primary key ({keys})) on commit delete rows";
    private static final String COPY = "copy {tmp} ({cols}, \"ibex#del\", \"ibex#present\", \"ibex#xmin\", \"ibex#vv\", \"ibex#ts\", "
            + "\"ibex#origin\", \"ibex#confirm\") from stdin";

    /**
     * {@code cand}: every row to write with the target's row ({@code ibex#txmin}) and whether to write
     * it ({@code ibex#go}, filled in by the form); {@code lk}: the present ones to update or delete,
     * locked or not by the form. Parameters: the target's fold snapshot's xmax and in-progress xids
     * (32-bit), the target's ordinal.
     */
    private static final String APPLY = """
            with p as (select pg_catalog.age(?::xid) as ax, ?::xid[] as xip, ?::integer as ord),
            e as (select {keys:e}, e.xmin from (select {keys:e}, e.xmin from {log0} e union all select {keys:e}, e.xmin from {log1} e) e, p
                   where pg_catalog.age(e.xmin) <= p.ax or e.xmin = any(p.xip)),
            u as (select distinct {keys:e} from e where {first_key:e} is not null),
            m as (select coalesce(array_agg(e.xmin), '{}') as x from e where {first_key:e} is null),
            cand as (select a.*, t.xmin as "ibex#txmin", %1$s
                       from p, m, {tmp} a left join {table} t on {match:t,a} left join {ledger} l on {match:l,a}
                       left join u on {match:u,a} cross join lateral (select ibex.version(l.ibex_vv, l.ibex_local, p.ord) as v) x),
            lk as (%2$s),
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
                   returning 1)%3$s
            select (select count(*) from done),
                   (select count(*) from cand where "ibex#go" and "ibex#txmin" is not null) - (select count(*) from lk)%4$s
            """;

    /** Decided rows: a row still as the round saw it; an absent one nobody wrote or logged since. */
    private static final String GO_DECIDED = """
            case when a."ibex#present" then t.xmin is not distinct from a."ibex#xmin"
                 else t.xmin is null and {first_key:u} is null end as "ibex#go\"""";
    /** A source's rows: where nothing waits in the target's log and its version is dominated by, and not equal to, the source's. */
    private static final String GO_DIRECT = """
            ({first_key:u} is null and (t.xmin is null or t.xmin <> all(m.x))) and (%1$s) and not (%2$s) as "ibex#go",
            {first_key:u} is not null or (t.xmin is not null and t.xmin = any(m.x)) as "ibex#unsettled",
            %1$s as "ibex#dominated\"""";
    /** Direct: the keys left to the round (their versions are concurrent, or the target's is newer), and how many wait in the log. */
    private static final String DIRECT_RESULT = """
            ,
                   (select count(*) from cand where "ibex#unsettled"),
                   {undecided}
              from cand where not "ibex#unsettled" and not "ibex#dominated\"""";

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

    /** What a direct apply did, and the keys it left to the round. */
    public record DirectResult(ApplyResult result, List<List<String>> undecided, long unsettled) {
    }

    private final TableShape shape;
    private final String createTemp;
    private final String copy;
    private final String optimistic;
    private final String careful;
    private final String directOptimistic;
    private final String directCareful;
    private final String busySql;

    /**
     * @param bases whether the table tracks row bases
     * @param nodes the highest node ordinal of the sync (the length of its version vectors)
     */
    public ApplyWriter(TableShape shape, boolean bases, int nodes) {
        this.shape = shape;
        ShapeSql sql = new ShapeSql(shape);
        String tmp = "pg_temp." + tempName(shape);
        String columns = shape.columns().stream().map(c -> Idents.name(c.name()) + " " + c.type()).collect(Collectors.joining(", "));
        this.createTemp = sql.render(CREATE_TEMP.replace("{tmp}", tmp), Map.of("column_defs", columns));
        this.copy = sql.render(COPY.replace("{tmp}", tmp));
        String rebase = bases ? REBASE : "";
        this.optimistic = sql.render(APPLY.formatted(GO_DECIDED, LOCK_NONE, rebase, "").replace("{tmp}", tmp));
        this.careful = sql.render(APPLY.formatted(GO_DECIDED, LOCK_SKIPPING, rebase, "").replace("{tmp}", tmp));
        String go = GO_DIRECT.formatted(compare("<=", nodes), compare("=", nodes));
        String undecided = shape.key().stream().map(k -> "array_agg(" + ShapeSql.keyText(shape, Idents.name(k), k) + ")")
                .collect(Collectors.joining(", "));
        Map<String, String> aggregated = Map.of("undecided", undecided);
        this.directOptimistic = sql.render(APPLY.formatted(go, LOCK_NONE, "", DIRECT_RESULT).replace("{tmp}", tmp), aggregated);
        this.directCareful = sql.render(APPLY.formatted(go, LOCK_SKIPPING, "", DIRECT_RESULT).replace("{tmp}", tmp), aggregated);
        this.busySql = sql.render(BUSY.replace("{tmp}", tmp));
    }

    /** Every counter of the target's version {@code op} the source's: {@code coalesce(x.v[1], 0) <= coalesce(a.vv[1], 0) and ...}. */
    private static String compare(String op, int nodes) {
        return IntStream.rangeClosed(1, Math.max(1, nodes)).mapToObj(i -> "coalesce(x.v[" + i + "], 0) " + op
                + " coalesce(a.\"ibex#vv\"[" + i + "], 0)").collect(Collectors.joining(" and "));
    }

    /**
     * Applies decided {@code changes} and, if {@code watermarks} is non-empty and no row was busy,
     * records them, all in one transaction that commits before this returns.
     *
     * @param folded the snapshot of the target's fold in this round: log entries it does not see
     *               are changes the round has not decided
     */
    public ApplyResult apply(Connection c, String node, int ordinal, List<RowChange> changes, Snapshot folded,
                             Map<String, TxId> watermarks) {
        return run(c, node, changes, optimistic -> {
            Outcome o = write(c, ordinal, changes, folded, optimistic ? this.optimistic : careful, false);
            return new Outcome(o.result(), List.of(), 0, o.result().busy() == 0);
        }, watermarks).result();
    }

    /**
     * Applies a source's rows to the target of a two-node sync where the target's version is
     * dominated by the source's ({@link RowChange#version()}); returns the keys whose versions are
     * concurrent or newer on the target, for the round to decide, and how many keys were left because
     * a change to them waits in the target's log. Watermarks are recorded only if every row was
     * applied or equal.
     */
    public DirectResult applyDirect(Connection c, String node, int ordinal, List<RowChange> changes, Snapshot folded,
                                    Map<String, TxId> watermarks) {
        Outcome o = run(c, node, changes, optimistic -> {
            Outcome w = write(c, ordinal, changes, folded, optimistic ? directOptimistic : directCareful, true);
            return new Outcome(w.result(), w.undecided(), w.unsettled(),
                    w.result().busy() == 0 && w.undecided().isEmpty() && w.unsettled() == 0);
        }, watermarks);
        return new DirectResult(o.result(), o.undecided(), o.unsettled());
    }

    private record Outcome(ApplyResult result, List<List<String>> undecided, long unsettled, boolean complete) {
    }

    @FunctionalInterface
    private interface Attempt {
        Outcome write(boolean optimistic) throws SQLException;
    }

    /** The optimistic form, then the careful one if a row lock kept it waiting; each in one transaction. */
    private Outcome run(Connection c, String node, List<RowChange> changes, Attempt attempt, Map<String, TxId> watermarks) {
        try {
            try {
                return transaction(c, changes, attempt, watermarks, true);
            } catch (SQLException e) {
                if (!changes.isEmpty() && "55P03".equals(SqlErrors.state(e))) {
                    return transaction(c, changes, attempt, watermarks, false);
                }
                throw e;
            }
        } catch (SQLException e) {
            throw new IbexException("node " + node + ", table " + shape.table() + ": applying " + changes.size()
                    + " rows failed: " + e.getMessage(), e);
        }
    }

    private Outcome transaction(Connection c, List<RowChange> changes, Attempt attempt, Map<String, TxId> watermarks,
                                boolean optimistic) throws SQLException {
        c.setAutoCommit(false);
        try (Statement s = c.createStatement()) {
            s.execute("set local session_replication_role = replica; set local lock_timeout = '" + (optimistic ? "50ms" : "200ms") + "'");
            Outcome o = changes.isEmpty() ? new Outcome(ApplyResult.NONE, List.of(), 0, true) : attempt.write(optimistic);
            if (o.complete()) {
                WatermarkStore.record(c, shape.table().ledgerName(), watermarks);
            }
            if (!changes.isEmpty()) {
                CrashPoints.reach(CrashPoints.APPLY_UNCOMMITTED);
            }
            c.commit();
            return o;
        } catch (SQLException | RuntimeException e) {
            rollbackQuietly(c);
            throw e;
        } finally {
            c.setAutoCommit(true);
        }
    }

    private Outcome write(Connection c, int ordinal, List<RowChange> changes, Snapshot folded, String sql, boolean direct)
            throws SQLException {
        try (Statement s = c.createStatement()) {
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
            long unsettled = 0;
            List<List<String>> undecided = List.of();
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                ps.setString(1, Long.toString(folded.xmax32()));
                ps.setArray(2, c.createArrayOf("text", folded.xip32()));
                ps.setInt(3, ordinal);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    applied = rs.getLong(1);
                    notLocked = rs.getLong(2);
                    if (direct) {
                        unsettled = rs.getLong(3);
                        undecided = keys(rs, 4);
                    }
                }
            }
            long busy = 0;
            if (notLocked > 0) {
                try (ResultSet rs = s.executeQuery(busySql)) {
                    rs.next();
                    busy = rs.getLong(1);
                }
            }
            long skipped = changes.size() - applied - busy - (direct ? unsettled + undecided.size() : 0);
            return new Outcome(new ApplyResult(applied, Math.max(0, skipped), busy), undecided, unsettled, false);
        }
    }

    /** The keys in one text array per key column, from column {@code first} on. */
    private List<List<String>> keys(ResultSet rs, int first) throws SQLException {
        List<String[]> columns = new ArrayList<>();
        for (int i = 0; i < shape.key().size(); i++) {
            Array a = rs.getArray(first + i);
            columns.add(a == null ? new String[0] : (String[]) a.getArray());
        }
        List<List<String>> out = new ArrayList<>();
        for (int r = 0; r < columns.get(0).length; r++) {
            final int row = r;
            out.add(columns.stream().map(col -> col[row]).toList());
        }
        return out;
    }

    /** The session's temporary table for this shape: a new shape (a column added, a type changed) gets a new one. */
    private static String tempName(TableShape shape) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update(("apply-v2\u0000" + shape.table().ledgerName()).getBytes(StandardCharsets.UTF_8));
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
}
