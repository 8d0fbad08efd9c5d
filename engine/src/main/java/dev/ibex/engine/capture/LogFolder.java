package dev.ibex.engine.capture;

import dev.ibex.engine.capture.CapturedTable;
import dev.ibex.engine.capture.LogFolder;
import dev.ibex.engine.fence.Fence;
import dev.ibex.conflict.NodeId;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.capture.ShapeSql;
import dev.ibex.engine.window.Snapshot;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Folds a node's change logs into its ledgers: every key logged by a transaction that committed
 * after the previous fold gets its node's counter advanced by one local change ({@code ibex_local}),
 * the newest stamp among its entries, this node as origin, and the fold's own txid as
 * {@code ibex_txid}, which is how rounds find the keys a source changed since a target's watermark.
 *
 * <p>Exactly once: which log rows a fold takes is decided by snapshots, not by txid order. The fold
 * runs in one repeatable-read transaction whose snapshot S it records (per table, in {@code
 * ibex.capture.fold_snapshot}) in the same transaction as the ledger writes; it takes the rows whose
 * writing transaction is visible in S but was not in the previous fold's snapshot. Rows of
 * transactions still running are taken by a later fold; a long transaction holds nothing else
 * back. A crash before the commit leaves both the ledgers and the snapshot as they were.
 *
 * <p>A fold has to come before a round reads any side, and rounds never decide a row that changed
 * after it (see {@code SideReader}), so a ledger version always accounts for every change its row
 * shows.
 */
public final class LogFolder {
    /**
     * What one fold did on one node: its snapshot, the next transaction id when it was taken, the keys
     * it advanced, and the tables it could not fold.
     */
    public record Fold(Snapshot snapshot, long next, long keys, Map<TableRef, String> failed) {
    }

    private static final String NEW_ENTRIES = """
            select {keys:s}, s.ibex_ts, s.ibex_base from {log0} s, p where {first_key:s} is not null and (pg_catalog.age(s.xmin) <= p.ax or s.xmin = any(p.xip))
            union all
            select {keys:s}, s.ibex_ts, s.ibex_base from {log1} s, p where {first_key:s} is not null and (pg_catalog.age(s.xmin) <= p.ax or s.xmin = any(p.xip))
            union all
            select {keys:t}, m.ibex_ts, null::text[] from {table} t join (
                select s.xmin as x, max(s.ibex_ts) as ibex_ts from (
                    select s.xmin, s.ibex_ts from {log0} s, p where {first_key:s} is null and (pg_catalog.age(s.xmin) <= p.ax or s.xmin = any(p.xip))
                    union all
                    select s.xmin, s.ibex_ts from {log1} s, p where {first_key:s} is null and (pg_catalog.age(s.xmin) <= p.ax or s.xmin = any(p.xip))
                ) s group by s.xmin) m on t.xmin = m.x""";

    /** Parameters: the previous fold's xmax and in-progress xids (32-bit), the node's ordinal. */
    private static final String FOLD = """
            with p as (select pg_catalog.age(?::xid) as ax, ?::xid[] as xip),
            e as (%s),
            k as (select {keys}, max(ibex_ts) as ibex_ts from e group by {keys}),
            w as (insert into {ledger} as l ({keys}, ibex_txid, ibex_ts, ibex_origin, ibex_local)
                  select {keys:k}, pg_current_xact_id(), k.ibex_ts, ?, 1 from k
                  on conflict ({keys}) do update set ibex_txid = excluded.ibex_txid, ibex_ts = excluded.ibex_ts,
                                                     ibex_origin = excluded.ibex_origin, ibex_local = l.ibex_local + 1
                  returning 1)
            select count(*) from w""".formatted(NEW_ENTRIES);

    /**
     * With row bases: a key's base is the row before the earliest of the new entries, unless the
     * ledger already holds one (changes not yet seen elsewhere), with the version it had. Parameters
     * as {@link #FOLD}, then the ordinal again.
     */
    private static final String FOLD_BASES = """
            with p as (select pg_catalog.age(?::xid) as ax, ?::xid[] as xip),
            e as (%s),
            k as (select {keys}, max(ibex_ts) as ibex_ts from e group by {keys}),
            b as (select distinct on ({keys}) {keys}, ibex_base from e order by {keys}, ibex_ts),
            w as (insert into {ledger} as l ({keys}, ibex_txid, ibex_ts, ibex_origin, ibex_local, ibex_base, ibex_base_vv)
                  select {keys:k}, pg_current_xact_id(), k.ibex_ts, ?, 1, b.ibex_base, '{}'::bigint[] from k join b on {match:k,b}
                  on conflict ({keys}) do update set ibex_txid = excluded.ibex_txid, ibex_ts = excluded.ibex_ts,
                         ibex_origin = excluded.ibex_origin, ibex_local = l.ibex_local + 1,
                         ibex_base = coalesce(l.ibex_base, excluded.ibex_base),
                         ibex_base_vv = case when l.ibex_base is null then ibex.version(l.ibex_vv, l.ibex_local, ?) else l.ibex_base_vv end
                  returning 1)
            select count(*) from w""".formatted(NEW_ENTRIES);

    private static final String CAPTURED = """
            select c.table_schema, c.table_name, c.ledger_name, c.key_columns, c.bases, c.log_slot, c.slot_since,
                   c.fold_snapshot::text,
                   pg_catalog.pg_relation_size(pg_catalog.format('%I.%I', 'ibex', c.ledger_name || '_log0')::regclass),
                   pg_catalog.pg_relation_size(pg_catalog.format('%I.%I', 'ibex', c.ledger_name || '_log1')::regclass)
              from ibex.capture c where c.sync_name = ? order by c.table_schema, c.table_name""";

    /** Snapshots older than this many transactions are moved up even when nothing was folded (age() wraps at 2^31). */
    private static final long REFRESH_AFTER_XIDS = 100_000_000L;

    private LogFolder() {
    }

    /** The sync's captured tables on the node, with their log state. */
    public static List<CapturedTable> captured(Connection c, String sync) throws SQLException {
        List<CapturedTable> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(CAPTURED)) {
            ps.setString(1, sync);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    Array keys = rs.getArray(4);
                    out.add(new CapturedTable(new TableRef(rs.getString(1), rs.getString(2)), rs.getString(3),
                            List.of((String[]) keys.getArray()), rs.getBoolean(5), rs.getInt(6), rs.getTimestamp(7).toInstant(),
                            Snapshot.parse(rs.getString(8)), new long[] {rs.getLong(9), rs.getLong(10)}));
                }
            }
        }
        return out;
    }

    /**
     * Folds every captured table of the fence's sync on the node reached through {@code c}
     * (autocommit, not in use otherwise), in one transaction that checks the fence first. A table
     * whose fold fails is left as it was and reported; the others are folded.
     */
    public static Fold fold(Connection c, NodeId node, Fence fence) {
        String sync = fence.sync();
        try {
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.execute("set transaction isolation level repeatable read");
                fence.check(c);
                Snapshot now;
                long next;
                // age() of a fixed xid gives the next xid to be assigned (this transaction has none yet)
                try (ResultSet rs = s.executeQuery("select pg_current_snapshot()::text, pg_catalog.age('3'::xid)")) {
                    rs.next();
                    now = Snapshot.parse(rs.getString(1));
                    next = widen(rs.getLong(2) + 3, now.xmax());
                }
                long keys = 0;
                Map<TableRef, String> failed = new LinkedHashMap<>();
                List<String> folded = new ArrayList<>();
                List<String> changed = new ArrayList<>();
                boolean stale = false;
                for (CapturedTable t : captured(c, sync)) {
                    stale |= now.xmin() - t.folded().xmax() > REFRESH_AFTER_XIDS;
                    if (!t.logged()) {
                        folded.add(t.ledger());
                        continue;
                    }
                    Savepoint sp = c.setSavepoint();
                    try {
                        long n = foldTable(c, node, t);
                        c.releaseSavepoint(sp);
                        folded.add(t.ledger());
                        if (n > 0) {
                            keys += n;
                            changed.add(t.ledger());
                        }
                    } catch (SQLException e) {
                        c.rollback(sp);
                        failed.put(t.table(), Redactor.firstLine(e.getMessage()));
                    }
                }
                if (keys > 0 || stale) {
                    record(c, now, folded, changed);
                }
                c.commit();
                return new Fold(now, next, keys, failed);
            } catch (SQLException | RuntimeException e) {
                rollbackQuietly(c);
                throw e;
            } finally {
                c.setAutoCommit(true);
            }
        } catch (SQLException e) {
            String doing = "node " + node + ": folding the change log of sync " + sync;
            throw Fence.asRejection(doing, e).map(IbexException.class::cast)
                    .orElseGet(() -> new IbexException(doing + ": " + Redactor.firstLine(e.getMessage()), e));
        }
    }

    /** A 32-bit xid as the 64-bit one nearest to {@code near}. */
    static long widen(long xid32, long near) {
        long x = (near & ~0xFFFF_FFFFL) | (xid32 & 0xFFFF_FFFFL);
        if (x < near - (1L << 31)) {
            x += 1L << 32;
        } else if (x > near + (1L << 31)) {
            x -= 1L << 32;
        }
        return x;
    }

    private static long foldTable(Connection c, NodeId node, CapturedTable t) throws SQLException {
        String sql = new ShapeSql(t.keyShape()).render(t.bases() ? FOLD_BASES : FOLD);
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            int i = 1;
            ps.setString(i++, Long.toString(t.folded().xmax32()));
            ps.setArray(i++, c.createArrayOf("text", t.folded().xip32()));
            ps.setInt(i++, node.ordinal());
            if (t.bases()) {
                ps.setInt(i, node.ordinal());
            }
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    /**
     * The fold's snapshot becomes the position of every table it folded, and its txid the last
     * change of every ledger it advanced, in the fold's transaction.
     */
    private static void record(Connection c, Snapshot now, List<String> folded, List<String> changed) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("update ibex.capture set fold_snapshot = ?::pg_snapshot, "
                + "last_fold_txid = case when ledger_name = any(?) then pg_current_xact_id() else last_fold_txid end "
                + "where ledger_name = any(?)")) {
            ps.setString(1, now.toString());
            ps.setArray(2, c.createArrayOf("text", changed.toArray()));
            ps.setArray(3, c.createArrayOf("text", folded.toArray()));
            ps.executeUpdate();
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
