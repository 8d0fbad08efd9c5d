package dev.ibex.engine.round;

import dev.ibex.conflict.NodeId;
import dev.ibex.conflict.RowImage;
import dev.ibex.conflict.Side;
import dev.ibex.conflict.VersionVector;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.db.Idents;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * Reads one node's side of a chunk of keys in one query: the ledger's version, change stamp and
 * origin, the row image as text (absent when the row does not exist on the node), and, when the
 * table tracks them, the row's pending base.
 */
public final class SideReader {
    private final TableShape shape;
    private final boolean bases;
    private final String sql;

    public SideReader(TableShape shape, boolean bases) {
        this.shape = shape;
        this.bases = bases;
        StringBuilder s = new StringBuilder("select k.ord, l.ibex_vv, (extract(epoch from l.ibex_ts) * 1000000)::bigint, l.ibex_origin, ")
                .append(bases ? "l.ibex_base, l.ibex_base_vv, " : "null::text[], null::bigint[], ")
                .append("t.ctid is not null");
        for (String c : shape.columnNames()) {
            s.append(", t.").append(Idents.name(c)).append("::text");
        }
        s.append(" from ").append(KeyArrays.unnest(shape))
                .append(" left join ").append(Idents.name("ibex", shape.table().ledgerName())).append(" l on ").append(KeyArrays.match(shape, "l"))
                .append(" left join ").append(Idents.name(shape.table().schema(), shape.table().name())).append(" t on ")
                .append(KeyArrays.match(shape, "t")).append(" order by k.ord");
        this.sql = s.toString();
    }

    /** One side per key, in the order of {@code keys}. */
    public List<Side> read(Connection c, NodeId node, IntFunction<NodeId> nodeByOrdinal, List<List<String>> keys) {
        List<Side> out = new ArrayList<>(keys.size());
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            KeyArrays.bind(c, ps, 1, shape, keys);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(side(rs, node, nodeByOrdinal));
                }
            }
        } catch (SQLException e) {
            throw new IbexException("node " + node + ", table " + shape.table() + ": reading rows: " + e.getMessage(), e);
        }
        return out;
    }

    private Side side(ResultSet rs, NodeId node, IntFunction<NodeId> nodeByOrdinal) throws SQLException {
        Array vvArray = rs.getArray(2);
        VersionVector vv = vvArray == null ? VersionVector.EMPTY : VersionVector.ofBoxed((Long[]) vvArray.getArray());
        long stamp = rs.getLong(3);
        int origin = rs.getInt(4);
        NodeId originNode = rs.wasNull() ? null : nodeByOrdinal.apply(origin);
        Side.Base base = null;
        Array baseArray = rs.getArray(5);
        if (bases && baseArray != null) {
            String[] values = (String[]) baseArray.getArray();
            Array baseVv = rs.getArray(6);
            VersionVector bv = baseVv == null ? VersionVector.EMPTY : VersionVector.ofBoxed((Long[]) baseVv.getArray());
            base = new Side.Base(values.length == 0 ? null : image(values), bv);
        }
        RowImage image = null;
        if (rs.getBoolean(7)) {
            String[] values = new String[shape.columns().size()];
            for (int i = 0; i < values.length; i++) {
                values[i] = rs.getString(8 + i);
            }
            image = image(values);
        }
        return new Side(node, vv, stamp, originNode, image, base);
    }

    private RowImage image(String[] values) {
        if (values.length != shape.columns().size()) {
            throw new IbexException("table " + shape.table() + ": a ledger base has " + values.length + " values for "
                    + shape.columns().size() + " columns; the table's columns changed since capture was installed");
        }
        return new RowImage(shape.columnNames(), java.util.Arrays.asList(values));
    }
}
