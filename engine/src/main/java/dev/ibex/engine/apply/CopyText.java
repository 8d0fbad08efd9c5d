package dev.ibex.engine.apply;

import dev.ibex.conflict.VersionVector;
import dev.ibex.engine.capture.TableShape;
import java.util.List;

/** Encodes rows in PostgreSQL's COPY text format (tab-separated, {@code \N} for null). */
final class CopyText {
    private CopyText() {
    }

    static String rows(TableShape shape, List<RowChange> changes) {
        StringBuilder b = new StringBuilder(changes.size() * 64);
        List<String> columns = shape.columnNames();
        for (RowChange ch : changes) {
            for (int i = 0; i < columns.size(); i++) {
                String v = ch.delete() ? keyValue(shape, ch, columns.get(i)) : ch.image().values().get(i);
                field(b, v);
                b.append('\t');
            }
            b.append(ch.delete() ? 't' : 'f').append('\t');
            field(b, array(ch.expected()));
            b.append('\t');
            field(b, array(ch.version()));
            b.append('\t');
            field(b, ch.stampMicros() == 0 ? null : ApplyWriter.timestamp(ch.stampMicros()));
            b.append('\t');
            field(b, ch.originOrdinal() == 0 ? null : Integer.toString(ch.originOrdinal()));
            b.append('\n');
        }
        return b.toString();
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
