package dev.ibex.engine.apply;

import dev.ibex.conflict.VersionVector;
import dev.ibex.engine.capture.TableShape;
import java.nio.charset.StandardCharsets;
import java.sql.SQLException;
import java.util.List;
import org.postgresql.copy.CopyIn;

/**
 * Encodes rows in PostgreSQL's COPY text format (tab-separated, {@code \N} for null) and streams
 * them to a COPY in pieces of about {@link #PIECE} characters, so that a chunk's COPY text never
 * exists whole in memory.
 */
final class CopyText {
    static final int PIECE = 64 * 1024;

    private CopyText() {
    }

    /** Sends every row of {@code changes} to {@code copy}, which the caller opened and ends. */
    static void send(CopyIn copy, TableShape shape, List<RowChange> changes) throws SQLException {
        StringBuilder b = new StringBuilder(PIECE + 1024);
        for (RowChange ch : changes) {
            row(b, shape, ch);
            if (b.length() >= PIECE) {
                flush(copy, b);
            }
        }
        flush(copy, b);
    }

    private static void flush(CopyIn copy, StringBuilder b) throws SQLException {
        if (b.length() > 0) {
            byte[] bytes = b.toString().getBytes(StandardCharsets.UTF_8);
            copy.writeToCopy(bytes, 0, bytes.length);
            b.setLength(0);
        }
    }

    /**
     * The COPY text of one row, newline included: the table's columns (a delete carries its key
     * only), then delete, seen present, seen xmin, version, stamp, origin and confirm.
     */
    static void row(StringBuilder b, TableShape shape, RowChange ch) {
        List<String> columns = shape.columnNames();
        for (int i = 0; i < columns.size(); i++) {
            String v = ch.delete() ? keyValue(shape, ch, columns.get(i)) : ch.image().values().get(i);
            field(b, v);
            b.append('\t');
        }
        b.append(ch.delete() ? 't' : 'f').append('\t');
        b.append(ch.seen().present() ? 't' : 'f').append('\t');
        field(b, ch.seen().xmin());
        b.append('\t');
        field(b, array(ch.version()));
        b.append('\t');
        field(b, ch.stampMicros() == 0 ? null : ApplyWriter.timestamp(ch.stampMicros()));
        b.append('\t');
        field(b, ch.originOrdinal() == 0 ? null : Integer.toString(ch.originOrdinal()));
        b.append('\t');
        b.append(ch.confirm() ? 't' : 'f');
        b.append('\n');
    }

    private static String keyValue(TableShape shape, RowChange ch, String column) {
        int k = shape.key().indexOf(column);
        return k < 0 ? null : ch.key().get(k);
    }

    static String array(VersionVector v) {
        StringBuilder b = new StringBuilder("{");
        long[] c = v.toArray();
        for (int i = 0; i < c.length; i++) {
            b.append(i == 0 ? "" : ",").append(c[i]);
        }
        return b.append('}').toString();
    }

    static void field(StringBuilder b, String v) {
        if (v == null) {
            b.append("\\N");
            return;
        }
        for (int i = 0; i < v.length(); i++) {
            char ch = v.charAt(i);
            switch (ch) {
                case '\\' -> b.append("\\\\");
                case '\t' -> b.append("\\t");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                default -> b.append(ch);
            }
        }
    }
}
