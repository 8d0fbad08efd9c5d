package dev.ibex.engine.status;

import dev.ibex.conflict.NodeId;
import dev.ibex.conflict.VersionVector;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.capture.TableInspector;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.db.Idents;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.round.KeyOrder;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Compares a sync's tables across all its nodes: every node streams its rows' keys and an md5 of
 * each row's text, in the merge order of rounds, and the streams are compared key by key. Memory
 * stays constant; only the first {@code maxKeys} differing keys of a table are kept. For a repair,
 * each row is read with its ledger version in the same snapshot, and every differing key is handed
 * to a {@link DifferenceSink} with the join of the versions of its rows: a change made after that
 * read has a version the join does not cover.
 */
public final class TableValidator {
    /** One table's result: rows per node, how many keys differ, and the first differing keys. */
    public record TableReport(String table, Map<String, Long> rows, long differingKeys, List<Difference> differences) {
    }

    /** A key whose row differs: per node, the row's md5, or null where the row is missing. */
    public record Difference(List<String> key, Map<String, String> rowHash) {
    }

    /** Takes every differing key of a table, with the join of the versions of its rows (absent rows add nothing). */
    public interface DifferenceSink {
        void differs(TableRef table, List<String> key, VersionVector covers);
    }

    private static final int FETCH = 5000;

    private TableValidator() {
    }

    public static List<TableReport> validate(SyncSettings sync, TableRef only, NodeDirectory nodes, int maxKeys) {
        return validate(sync, only, nodes, maxKeys, null);
    }

    /** As above; with a {@code sink}, every differing key also goes to it with the versions it was read at. */
    public static List<TableReport> validate(SyncSettings sync, TableRef only, NodeDirectory nodes, int maxKeys, DifferenceSink sink) {
        List<TableReport> out = new ArrayList<>();
        for (TableSettings t : sync.tables()) {
            if (only == null || only.equals(t.table())) {
                out.add(table(sync, t.table(), nodes, maxKeys, sink));
            }
        }
        return out;
    }

    private static TableReport table(SyncSettings sync, TableRef table, NodeDirectory nodes, int maxKeys, DifferenceSink sink) {
        Map<String, Connection> conns = new LinkedHashMap<>();
        Map<String, Integer> ordinals = new LinkedHashMap<>();
        try {
            for (NodeId n : sync.nodes()) {
                try {
                    Connection c = nodes.pool(n.name()).getConnection();
                    conns.put(n.name(), c);
                    ordinals.put(n.name(), n.ordinal());
                    c.setAutoCommit(false);
                } catch (SQLException e) {
                    throw new IbexException("node " + n + " is unreachable; cannot validate table " + table + ": " + e.getMessage(), e);
                }
            }
            return compare(table, conns, maxKeys, sink == null ? null : ordinals, sink);
        } catch (SQLException e) {
            throw new IbexException("validating table " + table + ": " + e.getMessage(), e);
        } finally {
            conns.values().forEach(c -> {
                try {
                    c.rollback();
                    c.close();
                } catch (SQLException ignored) {
                    // the connection is discarded
                }
            });
        }
    }

    /** @param ordinals per node its ordinal, to read each row's version; {@code null}: rows only */
    private static TableReport compare(TableRef table, Map<String, Connection> conns, int maxKeys, Map<String, Integer> ordinals,
                                       DifferenceSink sink) throws SQLException {
        Map<String, RowStream> streams = new LinkedHashMap<>();
        for (Map.Entry<String, Connection> e : conns.entrySet()) {
            TableShape shape = TableInspector.inspect(e.getValue(), table)
                    .orElseThrow(() -> new IbexException("table " + table + " does not exist on node " + e.getKey()));
            streams.put(e.getKey(), new RowStream(e.getValue(), shape, ordinals == null ? null : ordinals.get(e.getKey())));
        }
        Map<String, Long> rows = new LinkedHashMap<>();
        streams.keySet().forEach(n -> rows.put(n, 0L));
        List<Difference> diffs = new ArrayList<>();
        long differing = 0;
        while (true) {
            List<String> least = null;
            for (RowStream s : streams.values()) {
                if (s.key != null && (least == null || KeyOrder.INSTANCE.compare(s.key, least) < 0)) {
                    least = s.key;
                }
            }
            if (least == null) {
                break;
            }
            Map<String, String> hashes = new LinkedHashMap<>();
            VersionVector covers = VersionVector.EMPTY;
            for (Map.Entry<String, RowStream> e : streams.entrySet()) {
                RowStream s = e.getValue();
                boolean here = s.key != null && KeyOrder.INSTANCE.compare(s.key, least) == 0;
                hashes.put(e.getKey(), here ? s.hash : null);
                if (here) {
                    covers = covers.join(s.version);
                    rows.merge(e.getKey(), 1L, Long::sum);
                    s.advance();
                }
            }
            if (hashes.values().stream().distinct().count() > 1) {
                differing++;
                if (diffs.size() < maxKeys) {
                    diffs.add(new Difference(least, hashes));
                }
                if (sink != null) {
                    sink.differs(table, least, covers);
                }
            }
        }
        for (RowStream s : streams.values()) {
            s.close();
        }
        return new TableReport(table.toString(), rows, differing, diffs);
    }

    private static final class RowStream {
        private final PreparedStatement ps;
        private final ResultSet rs;
        private final int width;
        private final boolean versions;
        List<String> key;
        String hash;
        VersionVector version;

        /** @param ordinal the node's ordinal, to read each row's ledger version with it; {@code null}: rows only */
        RowStream(Connection c, TableShape shape, Integer ordinal) throws SQLException {
            List<String> keyExprs = shape.key().stream().map(k -> dev.ibex.engine.capture.ShapeSql.keyText(shape, k)).toList();
            versions = ordinal != null;
            String version = !versions ? "" : ", (select ibex.version(l.ibex_vv, l.ibex_local, ?) from "
                    + Idents.name("ibex", shape.table().ledgerName()) + " l where "
                    + shape.key().stream().map(k -> "l." + Idents.name(k) + " = t." + Idents.name(k)).collect(Collectors.joining(" and "))
                    + ")";
            String sql = "select " + String.join(", ", keyExprs) + ", md5(row(" + Idents.list(null, shape.columnNames()) + ")::text)"
                    + version + " from " + Idents.name(shape.table().schema(), shape.table().name()) + " t order by "
                    + keyExprs.stream().map(k -> k + " collate \"C\"").collect(Collectors.joining(", "));
            width = keyExprs.size();
            ps = c.prepareStatement(sql);
            if (versions) {
                ps.setInt(1, ordinal);
            }
            ps.setFetchSize(FETCH);
            rs = ps.executeQuery();
            advance();
        }

        void advance() throws SQLException {
            if (rs.next()) {
                List<String> k = new ArrayList<>(width);
                for (int i = 1; i <= width; i++) {
                    k.add(rs.getString(i));
                }
                key = k;
                hash = rs.getString(width + 1);
                version = versions ? version(rs.getArray(width + 2)) : VersionVector.EMPTY;
            } else {
                key = null;
                hash = null;
                version = null;
            }
        }

        private static VersionVector version(java.sql.Array a) throws SQLException {
            return a == null ? VersionVector.EMPTY : VersionVector.ofBoxed((Long[]) a.getArray());
        }

        void close() throws SQLException {
            rs.close();
            ps.close();
        }
    }
}
