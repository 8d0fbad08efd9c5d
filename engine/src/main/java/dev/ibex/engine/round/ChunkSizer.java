package dev.ibex.engine.round;

import dev.ibex.conflict.RowImage;
import dev.ibex.conflict.Side;
import java.util.List;

/**
 * How many keys the next chunk of a round takes, so that the rows a chunk holds in memory stay
 * bounded however wide they are: at most {@link #MAX_KEYS}, at most what fits in {@link #BUDGET_CHARS}
 * of row text (every node's side counted, each value also counted as {@link #VALUE_OVERHEAD} characters
 * and each key as {@link #KEY_OVERHEAD} for the objects that hold them) at the size per key of the
 * previous chunk, and at most twice the previous chunk's keys, so that a run of small rows (deletes,
 * narrow rows) does not open the way to a full chunk of wide ones. A round's first chunk, of
 * unknown width, takes {@link #FIRST_KEYS}; the change stream also ends a chunk once its rows reach
 * the budget. Large chunks matter: each costs the apply a commit and, on a target that joins by
 * hashing, a scan of the table and of its ledger. Pure.
 */
final class ChunkSizer {
    static final int MAX_KEYS = 16_000;
    static final int FIRST_KEYS = 1_000;
    static final long BUDGET_CHARS = 8L << 20;
    static final int VALUE_OVERHEAD = 32;
    static final int KEY_OVERHEAD = 512;

    private ChunkSizer() {
    }

    /**
     * @param lastKeys  keys of the previous chunk; 0 before the first
     * @param lastChars row text of the previous chunk, every node's side and pending base counted
     */
    static int next(int lastKeys, long lastChars) {
        if (lastKeys <= 0) {
            return FIRST_KEYS;
        }
        long perKey = KEY_OVERHEAD + (lastChars + lastKeys - 1) / lastKeys;
        long fit = Math.max(1, BUDGET_CHARS / perKey);
        return (int) Math.min(Math.min(MAX_KEYS, fit), 2L * lastKeys);
    }

    /** The row text a node's side holds: its row image and its pending base's. */
    static long chars(Side side) {
        return chars(side.image()) + (side.pendingBase() == null ? 0 : chars(side.pendingBase().image()));
    }

    private static long chars(RowImage image) {
        if (image == null) {
            return 0;
        }
        long n = 0;
        for (String v : image.values()) {
            n += VALUE_OVERHEAD + (v == null ? 0 : v.length());
        }
        return n;
    }

    /** The row text a side read for a round holds: its row image, if read, and its pending base's. */
    static long chars(KeySide side) {
        return chars(side.image()) + (side.row() == null ? 0 : side.row().length())
                + (side.base() == null ? 0 : chars(side.base().image()));
    }

    static long chars(List<Side> sides) {
        long n = 0;
        for (Side s : sides) {
            n += chars(s);
        }
        return n;
    }
}
