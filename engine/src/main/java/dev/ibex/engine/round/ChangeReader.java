package dev.ibex.engine.round;

import dev.ibex.engine.IbexException;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.db.Idents;
import dev.ibex.engine.window.Window;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.stream.Collectors;

/**
 * Streams the keys a source changed since a window's start, from its ledger, in {@link KeyOrder}, with a
 * server-side cursor (fetch size), so a backlog of any size is read in constant memory. The
 * connection must not be in autocommit mode while the stream is open.
 */
public final class ChangeReader implements Iterator<List<String>>, AutoCloseable {
    private static final int FETCH = 2000;

    private final String node;
    private final PreparedStatement statement;
    private final ResultSet rows;
    private final int width;
    private List<String> next;

    public ChangeReader(Connection c, String node, TableShape shape, Window window) {
        this.node = node;
        this.width = shape.key().size();
        String keys = shape.key().stream().map(k -> canonicalText(shape, k)).collect(Collectors.joining(", "));
        String order = shape.key().stream().map(k -> canonicalText(shape, k) + " collate \"C\"").collect(Collectors.joining(", "));
        String sql = "select " + keys + " from " + Idents.name("ibex", shape.table().ledgerName())
                + " where ibex_txid >= ?::xid8 order by " + order;
        try {
            statement = c.prepareStatement(sql);
            statement.setFetchSize(FETCH);
            statement.setString(1, window.from().toString());
            rows = statement.executeQuery();
            advance();
        } catch (SQLException e) {
            throw failure(shape, e);
        }
    }

    /**
     * A key column's text in one form per value, so that equal keys merge: numeric keys lose their
     * trailing zeros (2.50 and 2.5 are one key on every node).
     */
    public static String canonicalText(TableShape shape, String column) {
        String e = Idents.name(column);
        return shape.typeOf(column).startsWith("numeric") ? "trim_scale(" + e + ")::text" : e + "::text";
    }

    private IbexException failure(TableShape shape, SQLException e) {
        return new IbexException("node " + node + ", table " + shape.table() + ": reading changes: " + e.getMessage(), e);
    }

    private void advance() throws SQLException {
        if (rows.next()) {
            List<String> k = new ArrayList<>(width);
            for (int i = 1; i <= width; i++) {
                k.add(rows.getString(i));
            }
            next = k;
        } else {
            next = null;
        }
    }

    @Override
    public boolean hasNext() {
        return next != null;
    }

    @Override
    public List<String> next() {
        if (next == null) {
            throw new NoSuchElementException();
        }
        List<String> k = next;
        try {
            advance();
        } catch (SQLException e) {
            throw new IbexException("node " + node + ": reading changes: " + e.getMessage(), e);
        }
        return k;
    }

    @Override
    public void close() {
        try {
            rows.close();
            statement.close();
        } catch (SQLException ignored) {
            // closing a cursor on a broken connection: the connection is discarded anyway
        }
    }
}
