package dev.ibex.engine.round;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.db.ShapeSql;
import dev.ibex.engine.window.Snapshot;
import dev.ibex.engine.window.TxId;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * Streams the keys a source changed since a position, with the source's whole side of each (version,
 * row and settledness, as {@link SideReader#rows} reads it), from its ledger joined to its table,
 * through a server-side cursor fetching a chunk at a time, so a backlog of any size is read in
 * constant memory, in key order
 * (so chunks, and the row locks an apply takes, follow one order). The connection must not be in autocommit mode while the
 * stream is open. {@link #newest()} is the highest fold txid read: the position a target records once
 * it holds everything read.
 */
final class ChangeStream implements AutoCloseable {
    private static final String STREAM = SideReader.UNFOLDED + "select {key_text:l}, l.ibex_txid::text, " + SideReader.SIDE
            + ", l.ibex_base, l.ibex_base_vv, {cols_text:t}\n"
            + "  from m, {ledger} l left join {table} t on {match:t,l} left join u on {match:u,l} where l.ibex_txid >= ?::xid8"
            + " order by {keys:l}";

    /** One changed key and the source's side of it. */
    record Change(List<String> key, KeySide side) {
    }

    private final NodeId node;
    private final TableShape shape;
    private final SideReader sides;
    private final IntFunction<NodeId> byOrdinal;
    private final PreparedStatement statement;
    private final ResultSet rows;
    private boolean more;
    private TxId newest;

    ChangeStream(Connection c, NodeId node, TableShape shape, SideReader sides, Snapshot folded, TxId from,
                 IntFunction<NodeId> byOrdinal) {
        this.node = node;
        this.shape = shape;
        this.sides = sides;
        this.byOrdinal = byOrdinal;
        this.newest = from.value() == 0 ? TxId.ZERO : new TxId(from.value() - 1);
        try {
            statement = c.prepareStatement(new ShapeSql(shape).render(STREAM));
            statement.setFetchSize(ChunkSizer.FIRST_KEYS);
            statement.setString(1, Long.toString(folded.xmax32()));
            statement.setArray(2, c.createArrayOf("text", folded.xip32()));
            statement.setString(3, from.toString());
            rows = statement.executeQuery();
            more = rows.next();
        } catch (SQLException e) {
            throw failure(e);
        }
    }

    boolean hasNext() {
        return more;
    }

    /**
     * Up to {@code max} next changes. The cursor fetches {@code max} rows at a time from here on, so
     * that the driver never buffers more rows than one chunk holds (rows carry their images).
     */
    List<Change> next(int max) {
        List<Change> out = new ArrayList<>(Math.min(max, 1024));
        int width = shape.key().size();
        try {
            rows.setFetchSize(max);
            while (more && out.size() < max) {
                List<String> key = new ArrayList<>(width);
                for (int i = 1; i <= width; i++) {
                    key.add(rows.getString(i));
                }
                TxId txid = TxId.parse(rows.getString(width + 1));
                if (txid.compareTo(newest) > 0) {
                    newest = txid;
                }
                out.add(new Change(key, sides.side(rows, width + 2, node, byOrdinal, true)));
                more = rows.next();
            }
        } catch (SQLException e) {
            throw failure(e);
        }
        return out;
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
            rows.close();
            statement.close();
        } catch (SQLException | RuntimeException ignored) {
            // closing a cursor on a broken connection: the connection is discarded anyway
        }
    }
}
