package dev.ibex.engine.round;

import dev.ibex.conflict.NodeId;
import dev.ibex.conflict.VersionVector;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.apply.CopyRow;
import dev.ibex.engine.apply.CopyText;
import dev.ibex.engine.apply.SeenRow;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.db.ShapeSql;
import dev.ibex.engine.window.Snapshot;
import dev.ibex.engine.window.TxId;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import java.util.stream.Collectors;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyOut;

/**
 * Streams the keys a source changed since a position, with the source's side of each (version,
 * stamp, origin, settledness, and its row), from its ledger joined to its table, in key order, as a
 * COPY: the server sends rows as fast as they are read, so a backlog of any size is read in constant
 * memory, and each row's columns arrive already in COPY text, which the apply passes on to the
 * targets as they are ({@link CopyRow}). Only the ledger's fields and the key are decoded. Runs on a
 * connection of its own for as long as it is open. {@link #newest()} is the highest fold txid read:
 * the position a target records once it holds everything read.
 */
final class ChangeStream implements AutoCloseable {
    private static final String STREAM = SideReader.UNFOLDED
            + "select {key_text:l}, l.ibex_txid, l.ibex_vv, l.ibex_local, (extract(epoch from l.ibex_ts) * 1000000)::bigint, "
            + "l.ibex_origin, t.xmin, ({keys:l}) in (select {keys:u} from u) or (t.xmin is not null and t.xmin = any(m.x)), {cols:t}\n"
            + "  from m, {ledger} l left join {table} t on {match:t,l} where l.ibex_txid >= {from_txid}"
            + " order by {keys:l}";
    /**
     * A large stream reads the ledger and the table along their primary keys, already in key order,
     * so rows flow as soon as the first is read; a sort would first read and join every changed key
     * (at 100 000 keys it held the first chunk back 0.4 s). A small one takes its keys from the
     * ledger's {@code ibex_txid} index and sorts them, rather than walking every key of the ledger.
     */
    private static final String IN_KEY_ORDER = "set local enable_sort = off";
    /** Whether the keys changed since a position reach {@link #LARGE}: an index-only count, bounded. */
    private static final String COUNT = "select count(*) from (select 1 from {ledger} l where l.ibex_txid >= ?::xid8 limit %d) s";
    static final int LARGE = 10_000;
    /** Fields before the row's columns, after the key's: txid, vv, local changes, stamp, origin, xmin, unsettled. */
    private static final int META = 7;

    /** One changed key and the source's side of it. */
    record Change(List<String> key, KeySide side) {
    }

    private final NodeId node;
    private final TableShape shape;
    private final IntFunction<NodeId> byOrdinal;
    private final Connection connection;
    private CopyOut copy;
    private byte[] next;
    private TxId newest;

    ChangeStream(Connection c, NodeId node, TableShape shape, Snapshot folded, TxId from, IntFunction<NodeId> byOrdinal) {
        this.node = node;
        this.shape = shape;
        this.byOrdinal = byOrdinal;
        this.newest = from.value() == 0 ? TxId.ZERO : new TxId(from.value() - 1);
        String xip = Arrays.stream(folded.xip32()).collect(Collectors.joining(",", "'{", "}'::xid[]"));
        String sql = new ShapeSql(shape).render(STREAM, Map.of("fold_xmax", "'" + folded.xmax32() + "'::xid", "fold_xip", xip,
                "from_txid", "'" + from + "'::xid8"));
        this.connection = c;
        try {
            c.setAutoCommit(false);
            if (large(c, from)) {
                try (Statement s = c.createStatement()) {
                    s.execute(IN_KEY_ORDER);
                }
            }
            copy = c.unwrap(PGConnection.class).getCopyAPI().copyOut("copy (" + sql + ") to stdout");
            next = copy.readFromCopy();
        } catch (SQLException e) {
            close();
            throw failure(e);
        }
    }

    private boolean large(Connection c, TxId from) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(new ShapeSql(shape).render(COUNT.formatted(LARGE)))) {
            ps.setString(1, from.toString());
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1) >= LARGE;
            }
        }
    }

    boolean hasNext() {
        return next != null;
    }

    /** Up to {@code max} next changes, fewer if their rows reach {@code maxChars} bytes first. */
    List<Change> next(int max, long maxChars) {
        List<Change> out = new ArrayList<>(Math.min(max, 1024));
        long chars = 0;
        try {
            while (next != null && out.size() < max && chars < maxChars) {
                chars += next.length;
                out.add(parse(next));
                next = copy.readFromCopy();
            }
        } catch (SQLException e) {
            throw failure(e);
        }
        return out;
    }

    private Change parse(byte[] line) {
        int end = line.length > 0 && line[line.length - 1] == '\n' ? line.length - 1 : line.length;
        int width = shape.key().size();
        List<String> f = CopyText.fields(line, 0, end, width + META);
        TxId txid = TxId.parse(f.get(width));
        if (txid.compareTo(newest) > 0) {
            newest = txid;
        }
        VersionVector vv = vector(f.get(width + 1)).bump(node.ordinal(), Long.parseLong(f.get(width + 2)));
        String origin = f.get(width + 4);
        String xmin = f.get(width + 5);
        SeenRow seen = xmin == null ? SeenRow.ABSENT : SeenRow.present(xmin);
        CopyRow row = null;
        if (seen.present()) {
            row = CopyRow.of(line, CopyText.fieldStart(line, 0, end, width + META), end);
        }
        KeySide side = new KeySide(node, vv, Long.parseLong(f.get(width + 3)), origin == null ? null : byOrdinal.apply(Integer.parseInt(origin)),
                seen, "f".equals(f.get(width + 6)), false, null, row, null);
        return new Change(f.subList(0, width), side);
    }

    private static VersionVector vector(String text) {
        if (text == null || text.equals("{}")) {
            return VersionVector.EMPTY;
        }
        return VersionVector.of(Arrays.stream(text.substring(1, text.length() - 1).split(",")).mapToLong(Long::parseLong).toArray());
    }

    /** The highest ledger position read so far (one below the start when nothing was read). */
    TxId newest() {
        return newest;
    }

    private IbexException failure(SQLException e) {
        return new IbexException("node " + node + ", table " + shape.table() + ": reading changes: " + e.getMessage(), e);
    }

    @Override
    public void close() {
        try {
            if (copy != null && copy.isActive()) {
                copy.cancelCopy();
            }
            connection.rollback();
            connection.setAutoCommit(true);
        } catch (SQLException | RuntimeException ignored) {
            // ending a stream on a broken connection: the connection is discarded anyway
        }
    }
}
