package dev.ibex.engine.apply;

import dev.ibex.conflict.RowImage;
import java.util.Arrays;

/**
 * A row's columns in PostgreSQL's COPY text format, tab-separated and escaped, in table column
 * order, with no line end: what a source's COPY stream carries, passed to a target's COPY as it
 * is, so that the engine neither decodes nor encodes the values of rows it only forwards.
 */
public final class CopyRow {
    private final byte[] bytes;

    private CopyRow(byte[] bytes) {
        this.bytes = bytes;
    }

    /** The columns {@code line[from, to)} of a COPY text line. */
    public static CopyRow of(byte[] line, int from, int to) {
        return new CopyRow(Arrays.copyOfRange(line, from, to));
    }

    /** A row image's values, encoded. */
    public static CopyRow of(RowImage image) {
        CopyText.Buffer b = new CopyText.Buffer(256);
        for (int i = 0; i < image.values().size(); i++) {
            if (i > 0) {
                b.put((byte) '\t');
            }
            b.field(image.values().get(i));
        }
        return new CopyRow(b.toByteArray());
    }

    /** The row as values (text form of each column, null for SQL null). */
    public RowImage image(java.util.List<String> columns) {
        return new RowImage(columns, CopyText.fields(bytes, 0, bytes.length, columns.size()));
    }

    public int length() {
        return bytes.length;
    }

    void writeTo(CopyText.Buffer b) {
        b.put(bytes, 0, bytes.length);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CopyRow r && Arrays.equals(bytes, r.bytes);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(bytes);
    }

    @Override
    public String toString() {
        return new String(bytes, java.nio.charset.StandardCharsets.UTF_8);
    }
}
