package dev.ibex.engine.apply;

import dev.ibex.engine.CrashPoints;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.db.Idents;
import dev.ibex.engine.window.TxId;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;

/**
 * Writes decided rows to one target in one transaction: COPY into a temporary table, then
 * set-based lock, check, delete, upsert and ledger update, under {@code session_replication_role
 * = replica} so that no trigger fires for replicated writes. The apply yields to applications:
 * rows an application holds locked are skipped ({@code SKIP LOCKED}), rows whose ledger version
 * changed since the round read them (an application wrote them meanwhile) are skipped, never
 * overwritten, and any other lock wait is cut short by a 200 ms lock timeout (the apply is
 * retried), so an application transaction never waits long on Ibex or dies in a deadlock with
 * it. Watermarks, when given, commit in the same transaction, unless a locked row was skipped:
 * then the target keeps its old watermarks so that the next round reads those keys again.
 *
 * <p>Every row written here is now shared state, so its pending base (see {@code
 * ConflictResolver#needsBase}) is cleared. A row sent only to confirm a node's own change (the
 * expected version is the decided one) whose node changed it again meanwhile is not written, but
 * when the table tracks bases its base becomes the decided row: that is what the new change was
 * made on.
 */
public final class ApplyWriter {
    private static final String TEMP = "ibex_apply";
    private static final String DEL = Idents.name("ibex#del");
    private static final String EXP = Idents.name("ibex#exp");
    private static final String VV = Idents.name("ibex#vv");
    private static final String TS = Idents.name("ibex#ts");
    private static final String ORIGIN = Idents.name("ibex#origin");

    private final TableShape shape;
    private final String table;
    private final String ledger;
    private final String keyMatchLedger;
    private final String keyMatchTable;
    private final boolean bases;

    public ApplyWriter(TableShape shape, boolean bases) {
        this.shape = shape;
        this.bases = bases;
        this.table = Idents.name(shape.table().schema(), shape.table().name());
        this.ledger = Idents.name("ibex", shape.table().ledgerName());
        this.keyMatchLedger = Idents.equal("l", "a", shape.key());
        this.keyMatchTable = Idents.equal("t", "a", shape.key());
    }

    /**
     * Applies {@code changes} and, if {@code watermarks} is non-empty, records them, all in one
     * transaction that commits before this returns.
     */
    public ApplyResult apply(Connection c, String node, List<RowChange> changes, Map<String, TxId> watermarks) {
        try {
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.execute("set local session_replication_role = replica; set local lock_timeout = '200ms'");
                ApplyResult r = changes.isEmpty() ? ApplyResult.NONE : write(c, s, changes);
                if (r.busy() == 0) {
                    recordWatermarks(c, watermarks);
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

    private ApplyResult write(Connection c, Statement s, List<RowChange> changes) throws SQLException {
        String cols = Idents.list(null, shape.columnNames());
        s.execute("create temp table " + TEMP + " on commit drop as select " + Idents.list("t", shape.columnNames())
                + ", null::boolean as " + DEL + ", null::bigint[] as " + EXP + ", null::bigint[] as " + VV
                + ", null::timestamptz as " + TS + ", null::integer as " + ORIGIN + " from " + table + " t with no data");
        String copy = "copy " + TEMP + " (" + cols + ", " + DEL + ", " + EXP + ", " + VV + ", " + TS + ", " + ORIGIN + ") from stdin";
        CopyIn in = c.unwrap(PGConnection.class).getCopyAPI().copyIn(copy);
        try {
            CopyText.send(in, shape, changes);
            in.endCopy();
        } catch (SQLException | RuntimeException e) {
            cancelQuietly(in, e);
            throw e;
        }
        String keys = Idents.list(null, shape.key());
        long busy = s.executeUpdate("with locked as (select " + Idents.list("t", shape.key()) + " from " + table + " t join " + TEMP
                + " a on " + keyMatchTable + " for update of t skip locked) delete from " + TEMP + " a using " + table + " t where "
                + keyMatchTable + " and not exists (select 1 from locked k where " + Idents.equal("k", "a", shape.key()) + ")");
        s.execute("insert into " + ledger + " (" + keys + ") select " + keys + " from " + TEMP + " on conflict do nothing");
        long skipped = 0;
        if (bases) {
            busy += s.executeUpdate(lockLedger(""));
            s.executeUpdate("update " + ledger + " l set ibex_base = case when a." + DEL + " then '{}'::text[] else array["
                    + shape.columnNames().stream().map(n -> "a." + Idents.name(n) + "::text").collect(Collectors.joining(", "))
                    + "]::text[] end, ibex_base_vv = a." + VV + " from " + TEMP + " a where " + keyMatchLedger
                    + " and l.ibex_vv is distinct from a." + EXP + " and a." + EXP + " = a." + VV + " and l.ibex_base is not null");
            skipped = s.executeUpdate("delete from " + TEMP + " a using " + ledger + " l where " + keyMatchLedger
                    + " and l.ibex_vv is distinct from a." + EXP);
        } else {
            // one pass: a row whose ledger entry is locked is busy, one whose entry changed since the round read it is skipped
            try (ResultSet rs = s.executeQuery(lockLedger(" and k.ibex_vv is not distinct from a." + EXP) + " returning exists "
                    + "(select 1 from locked k where " + Idents.equal("k", "a", shape.key()) + ")")) {
                while (rs.next()) {
                    if (rs.getBoolean(1)) {
                        skipped++;
                    } else {
                        busy++;
                    }
                }
            }
        }
        long applied = s.executeUpdate("delete from " + table + " t using " + TEMP + " a where " + keyMatchTable + " and a." + DEL);
        applied += s.executeUpdate(upsert(cols));
        s.executeUpdate("update " + ledger + " l set ibex_vv = a." + VV + ", ibex_ts = a." + TS + ", ibex_origin = a." + ORIGIN
                + ", ibex_deleted = a." + DEL + ", ibex_base = null, ibex_base_vv = null from " + TEMP + " a where " + keyMatchLedger);
        return new ApplyResult(applied, skipped, busy);
    }

    /**
     * Locks the ledger rows of the temporary table's keys ({@code SKIP LOCKED}, as {@code locked}) and
     * drops from it every row whose ledger row was not locked or, with {@code alsoKeep}, fails that
     * condition on the locked row {@code k}.
     */
    private String lockLedger(String alsoKeep) {
        return "with locked as (select " + Idents.list("l", shape.key()) + ", l.ibex_vv from " + ledger + " l join " + TEMP + " a on "
                + keyMatchLedger + " for update of l skip locked) delete from " + TEMP + " a where not exists "
                + "(select 1 from locked k where " + Idents.equal("k", "a", shape.key()) + alsoKeep + ")";
    }

    private String upsert(String cols) {
        String insert = "insert into " + table + " as t (" + cols + ") select " + cols + " from " + TEMP + " where not " + DEL
                + " on conflict (" + Idents.list(null, shape.key()) + ") do ";
        List<String> all = shape.columnNames();
        String set = all.stream().map(n -> Idents.name(n) + " = excluded." + Idents.name(n)).collect(Collectors.joining(", "));
        return insert + "update set " + set + " where row(" + Idents.list("t", all) + ")::text is distinct from row("
                + Idents.list("excluded", all) + ")::text";
    }

    private void recordWatermarks(Connection c, Map<String, TxId> watermarks) throws SQLException {
        if (watermarks.isEmpty()) {
            return;
        }
        try (PreparedStatement ps = c.prepareStatement("insert into ibex.watermark (ledger_name, source_node, boundary) "
                + "values (?, ?, ?::xid8) on conflict (ledger_name, source_node) do update "
                + "set boundary = excluded.boundary, updated_at = now()")) {
            for (Map.Entry<String, TxId> w : watermarks.entrySet()) {
                ps.setString(1, shape.table().ledgerName());
                ps.setString(2, w.getKey());
                ps.setString(3, w.getValue().toString());
                ps.addBatch();
            }
            ps.executeBatch();
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
