package dev.ibex.engine.capture;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.fence.Fence;
import dev.ibex.engine.window.Snapshot;
import dev.ibex.engine.window.TxId;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
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
 * <p>The work is one node function, {@code ibex.fold_logs} (R__fold.sql): the whole fold is two
 * round trips (the call, sent with the transaction's start, and the commit), and it returns what the
 * rest of the round needs to know about the node's capture, so that nothing else reads it again.
 *
 * <p>A fold has to come before a round reads any side, and rounds never decide a row that changed
 * after it (see {@code SideReader}), so a ledger version always accounts for every change its row
 * shows.
 */
public final class LogFolder {
    /**
     * What one fold did on one node: its snapshot, the next transaction id when it was taken, the keys
     * it advanced, the tables it could not fold, and the node's capture as the fold left it: each
     * captured table of the sync with its log, each ledger's last fold that changed it ({@link
     * TxId#ZERO}: none) and the node's watermarks per ledger and source.
     */
    public record Fold(Snapshot snapshot, long next, long keys, Map<TableRef, String> failed, List<CapturedTable> tables,
                       Map<String, TxId> lastChanges, Map<String, Map<String, TxId>> watermarks) {
    }

    /** The transaction's isolation is set in the statement that starts it: one round trip for both. */
    private static final String FOLD = "set transaction isolation level repeatable read; select * from ibex.fold_logs(?, ?, ?)";

    private LogFolder() {
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
            try (PreparedStatement ps = c.prepareStatement(FOLD)) {
                ps.setString(1, sync);
                ps.setLong(2, fence.epoch());
                ps.setInt(3, node.ordinal());
                Fold f = read(ps);
                c.commit();
                return f;
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

    private static Fold read(PreparedStatement ps) throws SQLException {
        boolean rows = ps.execute();
        while (!rows && ps.getUpdateCount() != -1) {
            rows = ps.getMoreResults();
        }
        if (!rows) {
            throw new SQLException("ibex.fold_logs returned nothing");
        }
        Snapshot snapshot = null;
        long next = 0;
        long keys = 0;
        Map<TableRef, String> failed = new LinkedHashMap<>();
        List<CapturedTable> tables = new ArrayList<>();
        Map<String, TxId> lastChanges = new HashMap<>();
        Map<String, Map<String, TxId>> marks = new HashMap<>();
        try (ResultSet rs = ps.getResultSet()) {
            while (rs.next()) {
                if (snapshot == null) {
                    snapshot = Snapshot.parse(rs.getString("fold_snapshot"));
                    // age() of a fixed xid gives the next xid to be assigned
                    next = widen(rs.getLong("next_age") + 3, snapshot.xmax());
                }
                String ledger = rs.getString("ledger_name");
                if (ledger == null) {
                    continue; // no table of the sync is captured here
                }
                TableRef table = new TableRef(rs.getString("table_schema"), rs.getString("table_name"));
                tables.add(new CapturedTable(table, ledger, List.of((String[]) rs.getArray("key_columns").getArray()),
                        rs.getBoolean("bases"), rs.getInt("log_slot"), rs.getTimestamp("slot_since").toInstant(),
                        new long[] {rs.getLong("log0_bytes"), rs.getLong("log1_bytes")}));
                keys += rs.getLong("folded_keys");
                String error = rs.getString("error");
                if (error != null) {
                    failed.put(table, Redactor.firstLine(error));
                }
                lastChanges.put(ledger, TxId.parse(rs.getString("last_fold_txid")));
                Map<String, TxId> bySource = new HashMap<>();
                String[] sources = strings(rs.getArray("mark_sources"));
                String[] boundaries = strings(rs.getArray("mark_boundaries"));
                for (int i = 0; i < sources.length; i++) {
                    bySource.put(sources[i], TxId.parse(boundaries[i]));
                }
                marks.put(ledger, bySource);
            }
        }
        return new Fold(snapshot, next, keys, failed, tables, lastChanges, marks);
    }

    private static String[] strings(Array a) throws SQLException {
        return a == null ? new String[0] : (String[]) a.getArray();
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

    private static void rollbackQuietly(Connection c) {
        try {
            c.rollback();
        } catch (SQLException ignored) {
            // the connection is broken; the transaction is gone with it
        }
    }
}
