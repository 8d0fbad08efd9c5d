package dev.ibex.engine.round;

import dev.ibex.conflict.NodeId;
import dev.ibex.conflict.VersionVector;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.apply.CopyRow;
import dev.ibex.engine.apply.CopyText;
import dev.ibex.engine.apply.SeenRow;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.db.Idents;
import dev.ibex.engine.capture.ShapeSql;
import dev.ibex.engine.window.Snapshot;
import dev.ibex.engine.window.TxId;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
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
    /**
     * What the fold did not take, read in one scan of the log before the stream, in the same
     * repeatable-read snapshot: the keys of the log entries, into a temporary table with a primary key, so that each streamed key
     * is checked by an index probe however many there are, and the transactions of the markers
     * among them (a handful), which the stream gets as a literal; then how many keys changed since
     * the position, up to {@link #LARGE}. Inside the stream itself, as {@code (key) in (select … from
     * u)} and a one-row aggregate of the log, a plan made on a ledger whose statistics predate the
     * fold (one changed key expected, 100 000 read) scanned the unfolded log once per streamed key:
     * W1's ten transactions at 1 000 000 rows stalled for minutes. Its text depends on the table's
     * shape only (parameters: the fold's xmax and in-progress xids, the position), so the connection
     * keeps it prepared and the server plans it once; the stream itself, a {@code COPY}, cannot take
     * parameters and is planned at every round.
     */
    private static final String SETUP = """
            set transaction isolation level repeatable read;
            set local enable_hashjoin = off; set local enable_mergejoin = off; set local enable_seqscan = off;
            create temp table if not exists {unfolded} ({key_defs}, primary key ({keys})) on commit delete rows;
            with e as (select {keys:e}, e.xmin from (select {keys:e}, e.xmin from {log0} e union all select {keys:e}, e.xmin from {log1} e) e
                        where pg_catalog.age(e.xmin) <= pg_catalog.age(?::xid) or e.xmin = any(?::xid[])),
            keyed as (insert into {unfolded} ({keys}) select {keys:e} from e where {first_key:e} is not null on conflict do nothing)
            select (select count(*) from (select 1 from {ledger} l where l.ibex_txid >= ?::xid8 limit %d) s),
                   (select coalesce(array_agg(e.xmin), '{}')::text from e where {first_key:e} is null)
            """.formatted(ChangeStream.LARGE);
    /** A row is unsettled when its key has an unfolded log entry or a marker's transaction wrote it. */
    private static final String STREAM = """
            select {key_text:l}, l.ibex_txid, l.ibex_vv, l.ibex_local, (extract(epoch from l.ibex_ts) * 1000000)::bigint,
                   l.ibex_origin, t.xmin, exists (select 1 from {unfolded} u where {match:u,l}) or t.xmin = any({markers}), {cols:t}
              from {ledger} l left join {table} t on {match:t,l} where l.ibex_txid >= {from_txid} order by {keys:l}""";
    /**
     * A large stream reads the ledger and the table along their primary keys, already in key order,
     * so rows flow as soon as the first is read; a sort would first read and join every changed key
     * (at 100 000 keys it held the first chunk back 0.4 s). A small one (the setup's settings) takes
     * its keys from the ledger's {@code ibex_txid} index, sorts them, and looks each row up by its
     * key: the planner, which has no statistics of the ledger's txids worth the name (the ledger is
     * rewritten by every fold), expected a third of the ledger and hashed the whole table for a
     * dozen changed keys (11 ms of a 100 000-row table, the largest cost of a small round).
     */
    private static final String IN_KEY_ORDER = "set local enable_sort = off; set local enable_hashjoin to default; "
            + "set local enable_mergejoin to default; set local enable_seqscan to default";
    /** How many changed keys make a stream large: the setup's count stops there. */
    static final int LARGE = 10_000;
    /** Fields before the row's columns, after the key's: txid, vv, local changes, stamp, origin, xmin, unsettled. */
    private static final int META = 7;

    /** One changed key, the source's side of it, and its position in the source's ledger (the fold that took it). */
    record Change(List<String> key, KeySide side, TxId position) {
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
        ShapeSql shapeSql = new ShapeSql(shape);
        Map<String, String> values = Map.of("from_txid", "'" + from + "'::xid8",
                "unfolded", "pg_temp." + shapeSql.tempName("unfolded", shape.key()),
                "key_defs", shape.key().stream().map(k -> Idents.name(k) + " " + shape.typeOf(k)).collect(Collectors.joining(", ")));
        this.connection = c;
        try {
            c.setAutoCommit(false);
            Unfolded unfolded = setUp(c, shapeSql.render(SETUP, values), folded, from);
            if (unfolded.changed() >= LARGE) {
                try (Statement s = c.createStatement()) {
                    s.execute(IN_KEY_ORDER);
                }
            }
            Map<String, String> stream = new HashMap<>(values);
            stream.put("markers", "'" + unfolded.markers() + "'::xid[]");
            copy = c.unwrap(PGConnection.class).getCopyAPI().copyOut("copy (" + shapeSql.render(STREAM, stream) + ") to stdout");
            next = copy.readFromCopy();
        } catch (SQLException e) {
            close();
            throw failure(e);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** What the setup read: changed keys (up to {@link #LARGE}), and the markers' transactions as an array literal's text. */
    private record Unfolded(long changed, String markers) {
        Unfolded {
            if (!markers.matches("\\{[0-9,]*}")) {
                throw new IllegalStateException("unexpected xid array " + markers);
            }
        }
    }

    /** Runs the setup in one round trip. */
    private static Unfolded setUp(Connection c, String sql, Snapshot folded, TxId from) throws SQLException {
        try (PreparedStatement s = c.prepareStatement(sql)) {
            s.setString(1, Long.toString(folded.xmax32()));
            s.setArray(2, c.createArrayOf("text", folded.xip32()));
            s.setString(3, from.toString());
            boolean rows = s.execute();
            while (!rows) {
                if (s.getUpdateCount() == -1) {
                    throw new SQLException("the change stream's setup returned no result");
                }
                rows = s.getMoreResults();
            }
            try (ResultSet rs = s.getResultSet()) {
                rs.next();
                return new Unfolded(rs.getLong(1), rs.getString(2));
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
        return new Change(f.subList(0, width), side, txid);
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
            if (copy == null || copy.isActive()) {
                if (copy != null) {
                    copy.cancelCopy();
                }
                connection.rollback();
            } else {
                // the stream wrote nothing but its temporary table; committing keeps the table for the next stream
                connection.commit();
            }
            connection.setAutoCommit(true);
        } catch (SQLException | RuntimeException ignored) {
            // ending a stream on a broken connection: the connection is discarded anyway
        }
    }
}
