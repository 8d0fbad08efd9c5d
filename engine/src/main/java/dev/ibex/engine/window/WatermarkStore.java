package dev.ibex.engine.window;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The one owner of {@code ibex.watermark} on a node: per ledger and source node, the position up to
 * which that source's changes are reconciled into this node. A position is a txid: every ledger row
 * of the source whose {@code ibex_txid} (the txid of the fold that last advanced it) is below it has
 * been reconciled. Written only in the transaction that applies the last chunk of a source's changes
 * to this node, so a position and what it stands for commit together.
 */
public final class WatermarkStore {
    private WatermarkStore() {
    }

    /** Per ledger, per source, this node's watermark. */
    public static Map<String, Map<String, TxId>> all(Connection c) throws SQLException {
        Map<String, Map<String, TxId>> out = new HashMap<>();
        try (PreparedStatement ps = c.prepareStatement("select ledger_name, source_node, boundary::text from ibex.watermark");
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                out.computeIfAbsent(rs.getString(1), k -> new HashMap<>()).put(rs.getString(2), TxId.parse(rs.getString(3)));
            }
        }
        return out;
    }

    /** Per source, this node's watermark for one ledger. */
    public static Map<String, TxId> of(Connection c, String ledger) throws SQLException {
        Map<String, TxId> out = new LinkedHashMap<>();
        try (PreparedStatement ps = c.prepareStatement("select source_node, boundary::text from ibex.watermark where ledger_name = ?")) {
            ps.setString(1, ledger);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.put(rs.getString(1), TxId.parse(rs.getString(2)));
                }
            }
        }
        return out;
    }

    /** Sets the given sources' watermarks of one ledger, in the caller's transaction. */
    public static void record(Connection c, String ledger, Map<String, TxId> positions) throws SQLException {
        if (positions.isEmpty()) {
            return;
        }
        try (PreparedStatement ps = c.prepareStatement(recording(positions.size()))) {
            bind(ps, 1, ledger, positions);
            ps.executeUpdate();
        }
    }

    /**
     * The statement that sets {@code sources} watermarks of one ledger (bound by {@link #bind}), for
     * a caller that sends it together with its own statements, in its transaction.
     */
    public static String recording(int sources) {
        return "insert into ibex.watermark (ledger_name, source_node, boundary) values "
                + String.join(", ", java.util.Collections.nCopies(sources, "(?, ?, ?::xid8)"))
                + " on conflict (ledger_name, source_node) do update set boundary = excluded.boundary, updated_at = now()";
    }

    /** Binds {@link #recording}'s parameters from index {@code from}; returns the next index. */
    public static int bind(PreparedStatement ps, int from, String ledger, Map<String, TxId> positions) throws SQLException {
        int i = from;
        for (Map.Entry<String, TxId> w : positions.entrySet()) {
            ps.setString(i++, ledger);
            ps.setString(i++, w.getKey());
            ps.setString(i++, w.getValue().toString());
        }
        return i;
    }

    /** Replaces every watermark of one ledger, in the caller's transaction (a resync). */
    public static void replace(Connection c, String ledger, Map<String, TxId> positions) throws SQLException {
        try (PreparedStatement del = c.prepareStatement("delete from ibex.watermark where ledger_name = ?")) {
            del.setString(1, ledger);
            del.executeUpdate();
        }
        record(c, ledger, positions);
    }
}
