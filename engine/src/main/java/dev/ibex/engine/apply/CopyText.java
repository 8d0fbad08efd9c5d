package dev.ibex.engine.apply;

import dev.ibex.conflict.VersionVector;
import dev.ibex.engine.capture.TableShape;
import java.nio.charset.StandardCharsets;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.postgresql.copy.CopyIn;

/**
 * PostgreSQL's COPY text format (tab-separated, {@code \N} for null, backslash escapes), both
 * ways: rows to write are encoded into a byte buffer and streamed to a COPY in pieces of about
 * {@link #PIECE} bytes, so that a chunk's COPY text never exists whole in memory; lines read from a
 * COPY are split into fields, unescaped only where they hold a backslash.
 */
public final class CopyText {
    static final int PIECE = 64 * 1024;

    private CopyText() {
    }

    /** Sends every row of {@code changes} to {@code copy}, which the caller opened and ends. */
    static void send(CopyIn copy, TableShape shape, List<RowChange> changes) throws SQLException {
        Buffer b = new Buffer(PIECE + 4096);
        for (RowChange ch : changes) {
            row(b, shape, ch);
            if (b.size() >= PIECE) {
                copy.writeToCopy(b.array(), 0, b.size());
                b.reset();
            }
        }
        if (b.size() > 0) {
            copy.writeToCopy(b.array(), 0, b.size());
        }
    }

    /**
     * The COPY text of one row, newline included: the table's columns (a delete carries its key
     * only), then delete, seen present, seen xmin, version, stamp (microseconds), origin and confirm.
     */
    static void row(Buffer b, TableShape shape, RowChange ch) {
        if (ch.delete()) {
            List<String> columns = shape.columnNames();
            for (int i = 0; i < columns.size(); i++) {
                int k = shape.key().indexOf(columns.get(i));
                b.field(k < 0 ? null : ch.key().get(k));
                b.put((byte) '\t');
            }
        } else {
            ch.row().writeTo(b);
            b.put((byte) '\t');
        }
        b.put((byte) (ch.delete() ? 't' : 'f')).put((byte) '\t');
        b.put((byte) (ch.seen().present() ? 't' : 'f')).put((byte) '\t');
        b.field(ch.seen().xmin());
        b.put((byte) '\t');
        array(b, ch.version());
        b.put((byte) '\t');
        if (ch.stampMicros() == 0) {
            b.field(null);
        } else {
            b.ascii(Long.toString(ch.stampMicros()));
        }
        b.put((byte) '\t');
        if (ch.originOrdinal() == 0) {
            b.field(null);
        } else {
            b.ascii(Integer.toString(ch.originOrdinal()));
        }
        b.put((byte) '\t');
        b.put((byte) (ch.confirm() ? 't' : 'f'));
        b.put((byte) '\n');
    }

    private static void array(Buffer b, VersionVector v) {
        long[] c = v.toArray();
        b.put((byte) '{');
        for (int i = 0; i < c.length; i++) {
            if (i > 0) {
                b.put((byte) ',');
            }
            b.ascii(Long.toString(c[i]));
        }
        b.put((byte) '}');
    }

    /**
     * The first {@code count} fields of a COPY text line ({@code line[from, to)}), unescaped, with
     * {@code null} for {@code \N}.
     */
    public static List<String> fields(byte[] line, int from, int to, int count) {
        List<String> out = new ArrayList<>(count);
        int start = from;
        for (int i = 0; i < count; i++) {
            int end = indexOf(line, (byte) '\t', start, to);
            if (end < 0 && i == count - 1) {
                end = to;
            } else if (end < 0) {
                throw new IllegalArgumentException("COPY line has " + i + " fields, " + count + " expected");
            }
            out.add(field(line, start, end));
            start = end + 1;
        }
        return out;
    }

    /** Where field number {@code n} (0-based) of {@code line[from, to)} starts. */
    public static int fieldStart(byte[] line, int from, int to, int n) {
        int p = from;
        for (int i = 0; i < n; i++) {
            p = indexOf(line, (byte) '\t', p, to);
            if (p < 0) {
                throw new IllegalArgumentException("COPY line has " + i + " fields, more expected");
            }
            p++;
        }
        return p;
    }

    static int indexOf(byte[] a, byte x, int from, int to) {
        for (int i = from; i < to; i++) {
            if (a[i] == x) {
                return i;
            }
        }
        return -1;
    }

    /** One field, unescaped; null for {@code \N}. */
    static String field(byte[] line, int start, int end) {
        if (end - start == 2 && line[start] == '\\' && line[start + 1] == 'N') {
            return null;
        }
        if (indexOf(line, (byte) '\\', start, end) < 0) {
            return new String(line, start, end - start, StandardCharsets.UTF_8);
        }
        byte[] out = new byte[end - start];
        int n = 0;
        for (int i = start; i < end; i++) {
            byte c = line[i];
            if (c == '\\' && i + 1 < end) {
                byte e = line[++i];
                out[n++] = switch (e) {
                    case 'b' -> 8;
                    case 'f' -> 12;
                    case 'n' -> 10;
                    case 'r' -> 13;
                    case 't' -> 9;
                    case 'v' -> 11;
                    default -> e;
                };
            } else {
                out[n++] = c;
            }
        }
        return new String(out, 0, n, StandardCharsets.UTF_8);
    }

    /** A growable byte buffer that writes COPY text fields. */
    static final class Buffer {
        private byte[] a;
        private int n;

        Buffer(int capacity) {
            a = new byte[capacity];
        }

        Buffer put(byte c) {
            ensure(1);
            a[n++] = c;
            return this;
        }

        void put(byte[] src, int from, int len) {
            ensure(len);
            System.arraycopy(src, from, a, n, len);
            n += len;
        }

        /** Text known to need no escaping and to be ASCII (numbers). */
        void ascii(String s) {
            ensure(s.length());
            for (int i = 0; i < s.length(); i++) {
                a[n++] = (byte) s.charAt(i);
            }
        }

        /** A value, escaped; {@code \N} for null. */
        void field(String v) {
            if (v == null) {
                put((byte) '\\').put((byte) 'N');
                return;
            }
            boolean plain = true;
            for (int i = 0; i < v.length() && plain; i++) {
                char c = v.charAt(i);
                plain = c != '\\' && c != '\t' && c != '\n' && c != '\r';
            }
            byte[] bytes = v.getBytes(StandardCharsets.UTF_8);
            if (plain) {
                put(bytes, 0, bytes.length);
                return;
            }
            ensure(bytes.length * 2);
            for (byte c : bytes) {
                switch (c) {
                    case '\\' -> {
                        a[n++] = '\\';
                        a[n++] = '\\';
                    }
                    case '\t' -> {
                        a[n++] = '\\';
                        a[n++] = 't';
                    }
                    case '\n' -> {
                        a[n++] = '\\';
                        a[n++] = 'n';
                    }
                    case '\r' -> {
                        a[n++] = '\\';
                        a[n++] = 'r';
                    }
                    default -> a[n++] = c;
                }
            }
        }

        int size() {
            return n;
        }

        byte[] array() {
            return a;
        }

        byte[] toByteArray() {
            return Arrays.copyOf(a, n);
        }

        void reset() {
            n = 0;
        }

        private void ensure(int more) {
            if (n + more > a.length) {
                a = Arrays.copyOf(a, Math.max(a.length * 2, n + more));
            }
        }
    }
}
