package dev.ibex.engine.window;

/**
 * A PostgreSQL 64-bit transaction id ({@code xid8}) used as a window boundary: a snapshot's xmin,
 * below which every transaction has finished. Immutable and ordered; {@link #ZERO} precedes every
 * real transaction and is the watermark of a source never reconciled into a node.
 */
public record TxId(long value) implements Comparable<TxId> {
    public static final TxId ZERO = new TxId(0);

    public TxId {
        if (value < 0) {
            throw new IllegalArgumentException("xid8 out of range: " + value);
        }
    }

    public static TxId parse(String text) {
        return new TxId(Long.parseLong(text.trim()));
    }

    public static TxId min(TxId a, TxId b) {
        return a.compareTo(b) <= 0 ? a : b;
    }

    @Override
    public int compareTo(TxId o) {
        return Long.compare(value, o.value);
    }

    @Override
    public String toString() {
        return Long.toString(value);
    }
}
