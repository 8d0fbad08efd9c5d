package dev.ibex.engine.round;

import dev.ibex.conflict.NodeId;
import dev.ibex.conflict.RowImage;
import dev.ibex.conflict.Side;
import dev.ibex.conflict.VersionVector;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.apply.SeenRow;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.capture.ShapeSql;
import dev.ibex.engine.window.Snapshot;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntFunction;

/**
 * Reads one node's side of a chunk of keys in one query: the ledger's version, stamp and origin,
 * the row's {@code xmin}, and whether the row is settled, that is whether no change to the key
 * waits unfolded in the node's log. Two forms: {@link #versions} without the
 * rows, enough to decide a key one side dominates; {@link #rows} with the row images and bases,
 * for conflicts and everything else.
 */
final class SideReader {
    /**
     * The log entries the fold did not take: the keys they name ({@code u}) and, as {@code m.x}, the
     * transactions of the markers among them (every row such a transaction wrote is a changed key).
     * Parameters: the fold's xmax and in-progress xids.
     */
    private static final String UNFOLDED = """
            with p as (select pg_catalog.age(?::xid) as ax, ?::xid[] as xip),
            e as (select {keys:e}, e.xmin from (select {keys:e}, e.xmin from {log0} e union all select {keys:e}, e.xmin from {log1} e) e, p
                   where pg_catalog.age(e.xmin) <= p.ax or e.xmin = any(p.xip)),
            u as (select distinct {keys:e} from e where {first_key:e} is not null),
            m as (select coalesce(array_agg(e.xmin), '{}') as x from e where {first_key:e} is null)
            """;
    /**
     * Columns 1-6 of a side: vv, local changes, stamp, origin, xmin, unsettled. A row is unsettled when
     * a change to it waits in the log: an entry for its key, or a marker of the transaction that wrote it.
     * (Rows the engine itself wrote since the fold are settled: replicated writes are not logged.)
     */
    private static final String SIDE = """
            l.ibex_vv, l.ibex_local, (extract(epoch from l.ibex_ts) * 1000000)::bigint, l.ibex_origin, t.xmin::text,
            {first_key:u} is not null or (t.xmin is not null and t.xmin = any(m.x))""";
    /**
     * The read runs with a generic plan, in the same round trip as the setting that asks for it (a
     * local setting: the reader is in autocommit, so it ends with the read's implicit transaction).
     * A custom plan knows how many keys the arrays hold and, from a few hundred on, hashes the whole
     * table and ledger to join them; the generic plan probes their indexes per key, which is what a
     * chunk of a table needs: in {@code psql} on a 100 000-row table, 1 000 keys took 16-69 ms with
     * a custom plan and 3.6 ms with the generic one, 110 keys 0.9 against 0.5 ms, 16 000 keys 77
     * against 65 ms. And once PgJDBC keeps the statement prepared, the generic plan is planned once.
     */
    private static final String GENERIC_PLAN = "select pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true);\n";
    private static final String READ = GENERIC_PLAN + UNFOLDED + "select k.ord, " + SIDE + "%s\n"
            + "  from m, {key_arrays} left join {ledger} l on {key_match:l} left join {table} t on {key_match:t}"
            + " left join u on {key_match:u} order by k.ord";

    private final TableShape shape;
    private final boolean bases;
    private final String versionsSql;
    private final String rowsSql;

    SideReader(TableShape shape, boolean bases) {
        this.shape = shape;
        this.bases = bases;
        ShapeSql sql = new ShapeSql(shape);
        this.versionsSql = sql.render(READ.formatted(""));
        this.rowsSql = sql.render(READ.formatted(", l.ibex_base, l.ibex_base_vv, {cols_text:t}"));
    }

    /** One side per key, in the order of {@code keys}, without the rows. */
    List<KeySide> versions(Connection c, NodeId node, Snapshot folded, IntFunction<NodeId> byOrdinal, List<List<String>> keys) {
        return read(c, node, folded, byOrdinal, keys, false);
    }

    /** One side per key, in the order of {@code keys}, with the rows (and bases, when the table tracks them). */
    List<KeySide> rows(Connection c, NodeId node, Snapshot folded, IntFunction<NodeId> byOrdinal, List<List<String>> keys) {
        return read(c, node, folded, byOrdinal, keys, true);
    }

    private List<KeySide> read(Connection c, NodeId node, Snapshot folded, IntFunction<NodeId> byOrdinal, List<List<String>> keys,
                               boolean withRows) {
        List<KeySide> out = new ArrayList<>(keys.size());
        try (PreparedStatement ps = c.prepareStatement(withRows ? rowsSql : versionsSql)) {
            ps.setString(1, Long.toString(folded.xmax32()));
            ps.setArray(2, c.createArrayOf("text", folded.xip32()));
            for (int i = 0; i < shape.key().size(); i++) {
                final int col = i;
                ps.setArray(3 + i, c.createArrayOf("text", keys.stream().map(k -> k.get(col)).toArray()));
            }
            // the setting's result first, then the sides
            if (!ps.execute() || !ps.getMoreResults()) {
                throw new SQLException("the read returned no rows");
            }
            try (ResultSet rs = ps.getResultSet()) {
                while (rs.next()) {
                    out.add(side(rs, 2, node, byOrdinal, withRows));
                }
            }
        } catch (SQLException e) {
            throw new IbexException("node " + node + ", table " + shape.table() + ": reading rows: " + e.getMessage(), e);
        }
        if (out.size() != keys.size()) {
            throw new IbexException("node " + node + ", table " + shape.table() + ": read " + out.size() + " sides for " + keys.size() + " keys");
        }
        return out;
    }

    /**
     * The side in the columns from {@code first} on: the six of {@link #SIDE}, then, when {@code withRows},
     * base, base version and the row's columns as text.
     */
    private KeySide side(ResultSet rs, int first, NodeId node, IntFunction<NodeId> byOrdinal, boolean withRows) throws SQLException {
        VersionVector vv = vector(rs.getArray(first)).bump(node.ordinal(), rs.getLong(first + 1));
        long stamp = rs.getLong(first + 2);
        int origin = rs.getInt(first + 3);
        NodeId originNode = rs.wasNull() ? null : byOrdinal.apply(origin);
        String xmin = rs.getString(first + 4);
        boolean settled = !rs.getBoolean(first + 5);
        SeenRow seen = xmin == null ? SeenRow.ABSENT : SeenRow.present(xmin);
        if (!withRows) {
            return new KeySide(node, vv, stamp, originNode, seen, settled, false, null, null, null);
        }
        Side.Base base = null;
        Array baseArray = rs.getArray(first + 6);
        if (bases && baseArray != null) {
            String[] values = (String[]) baseArray.getArray();
            base = new Side.Base(values.length == 0 ? null : image(values), vector(rs.getArray(first + 7)));
        }
        RowImage image = null;
        if (seen.present()) {
            String[] values = new String[shape.columns().size()];
            for (int i = 0; i < values.length; i++) {
                values[i] = rs.getString(first + 8 + i);
            }
            image = image(values);
        }
        return new KeySide(node, vv, stamp, originNode, seen, settled, true, image, null, base);
    }

    private static VersionVector vector(Array a) throws SQLException {
        return a == null ? VersionVector.EMPTY : VersionVector.ofBoxed((Long[]) a.getArray());
    }

    private RowImage image(String[] values) {
        if (values.length != shape.columns().size()) {
            throw new IbexException("table " + shape.table() + ": a ledger base has " + values.length + " values for "
                    + shape.columns().size() + " columns; the table's columns changed since capture was installed");
        }
        return new RowImage(shape.columnNames(), Arrays.asList(values));
    }
}
