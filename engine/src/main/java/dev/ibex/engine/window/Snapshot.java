package dev.ibex.engine.window;

import java.util.Arrays;
import java.util.List;

/**
 * A PostgreSQL snapshot ({@code pg_snapshot}, text form {@code xmin:xmax:xip,...}): which
 * transactions had committed when it was taken. A transaction is visible in it when it is below
 * {@code xmax} and not in progress ({@code xip}). Immutable; {@link #NONE} sees nothing and is the
 * fold position of a log never folded.
 *
 * <p>Rows carry 32-bit transaction ids ({@code xmin}); {@link #xmax32()} and {@link #xip32()} give
 * the snapshot's bounds in that form for SQL that tests rows against it with {@code age()}.
 */
public record Snapshot(long xmin, long xmax, long[] xip) {
    public static final Snapshot NONE = new Snapshot(0, 0, new long[0]);

    public Snapshot {
        if (xmin < 0 || xmax < xmin) {
            throw new IllegalArgumentException("invalid snapshot bounds " + xmin + ":" + xmax);
        }
        xip = xip.clone();
        Arrays.sort(xip);
    }

    public static Snapshot parse(String text) {
        if (text == null) {
            return NONE;
        }
        String[] parts = text.trim().split(":", -1);
        if (parts.length != 3) {
            throw new IllegalArgumentException("not a pg_snapshot: " + text);
        }
        long[] xip = parts[2].isEmpty() ? new long[0]
                : Arrays.stream(parts[2].split(",")).mapToLong(s -> Long.parseLong(s.trim())).toArray();
        return new Snapshot(Long.parseLong(parts[0]), Long.parseLong(parts[1]), xip);
    }

    /** True when transaction {@code txid} had committed (or aborted) when this snapshot was taken. */
    public boolean visible(long txid) {
        return txid < xmax && Arrays.binarySearch(xip, txid) < 0;
    }

    /** The transactions in progress when this snapshot was taken. */
    public List<Long> inProgress() {
        return Arrays.stream(xip).boxed().toList();
    }

    /** {@code xmax} as a 32-bit xid. */
    public long xmax32() {
        return xmax & 0xFFFF_FFFFL;
    }

    /** The in-progress transactions as 32-bit xids. */
    public String[] xip32() {
        return Arrays.stream(xip).mapToObj(x -> Long.toString(x & 0xFFFF_FFFFL)).toArray(String[]::new);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Snapshot s && s.xmin == xmin && s.xmax == xmax && Arrays.equals(s.xip, xip);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(xmin) * 31 + Long.hashCode(xmax) * 17 + Arrays.hashCode(xip);
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder().append(xmin).append(':').append(xmax).append(':');
        for (int i = 0; i < xip.length; i++) {
            b.append(i == 0 ? "" : ",").append(xip[i]);
        }
        return b.toString();
    }
}
