package dev.ibex.engine.install;

/**
 * The arithmetic of interleaved key sequences, with no I/O: node ordinal {@code k} of a sync owns
 * the values congruent to {@code k} modulo the step, so masters that each draw keys from their own
 * sequence never hand out the same value.
 */
public final class InterleavePlanner {
    private InterleavePlanner() {
    }

    /**
     * The step used when none is given: 100 for up to ten nodes, else the next power of ten at or
     * above ten times the node count, so that nodes added later still find a free residue class.
     */
    public static long defaultStep(int nodes) {
        long step = 100;
        while (step < 10L * nodes) {
            step *= 10;
        }
        return step;
    }

    /** The residue class of node ordinal {@code ordinal}: {@code ordinal mod step}. */
    public static long residue(int ordinal, long step) {
        return Math.floorMod((long) ordinal, step);
    }

    /** The smallest value above {@code high} that is congruent to {@code residue} modulo {@code step}. */
    public static long startAbove(long high, long residue, long step) {
        long v = high + 1;
        long shift = Math.floorMod(residue - v, step);
        return Math.addExact(v, shift);
    }

    /** Whether a sequence drawing {@code next} with {@code increment} stays in the class {@code residue}. */
    public static boolean inClass(long next, long increment, long residue, long step) {
        return increment == step && Math.floorMod(next, step) == residue;
    }
}
