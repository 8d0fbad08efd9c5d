package dev.ibex.conflict;

import java.util.Arrays;

/**
 * A version vector: one counter per node ordinal of a sync (ordinal 1 is index 0). Node i's
 * counter counts the local changes node i made to the row. Immutable; missing trailing counters
 * are zero, so vectors of different lengths compare naturally. The empty vector is the version of
 * a row no node has changed since it was first copied.
 */
public final class VersionVector {
    public static final VersionVector EMPTY = new VersionVector(new long[0]);

    private final long[] counters;

    private VersionVector(long[] counters) {
        int n = counters.length;
        while (n > 0 && counters[n - 1] == 0) {
            n--;
        }
        this.counters = n == counters.length ? counters : Arrays.copyOf(counters, n);
    }

    public static VersionVector of(long... counters) {
        for (long c : counters) {
            if (c < 0) {
                throw new IllegalArgumentException("version counters are never negative: " + Arrays.toString(counters));
            }
        }
        return new VersionVector(counters.clone());
    }

    /** From a PostgreSQL bigint[] read as Long[] (nulls count as zero). */
    public static VersionVector ofBoxed(Long[] counters) {
        if (counters == null) {
            return EMPTY;
        }
        long[] c = new long[counters.length];
        for (int i = 0; i < c.length; i++) {
            c[i] = counters[i] == null ? 0 : counters[i];
        }
        return of(c);
    }

    public long counter(int ordinal) {
        int i = ordinal - 1;
        return i < counters.length ? counters[i] : 0;
    }

    public int length() {
        return counters.length;
    }

    public long[] toArray() {
        return counters.clone();
    }

    public Long[] toBoxed() {
        return Arrays.stream(counters).boxed().toArray(Long[]::new);
    }

    /** This version with {@code ordinal}'s counter advanced by one: a local change at that node. */
    public VersionVector bump(int ordinal) {
        if (ordinal < 1) {
            throw new IllegalArgumentException("node ordinals start at 1, got " + ordinal);
        }
        long[] c = Arrays.copyOf(counters, Math.max(counters.length, ordinal));
        c[ordinal - 1]++;
        return new VersionVector(c);
    }

    /** This version with {@code ordinal}'s counter advanced by {@code changes} local changes (none: this version). */
    public VersionVector bump(int ordinal, long changes) {
        if (changes < 0) {
            throw new IllegalArgumentException("a version never goes back: " + changes + " changes");
        }
        if (changes == 0) {
            return this;
        }
        if (ordinal < 1) {
            throw new IllegalArgumentException("node ordinals start at 1, got " + ordinal);
        }
        long[] c = Arrays.copyOf(counters, Math.max(counters.length, ordinal));
        c[ordinal - 1] += changes;
        return new VersionVector(c);
    }

    /** The least version that has seen everything both have seen. */
    public VersionVector join(VersionVector other) {
        long[] c = new long[Math.max(counters.length, other.counters.length)];
        for (int i = 0; i < c.length; i++) {
            c[i] = Math.max(counter(i + 1), other.counter(i + 1));
        }
        return new VersionVector(c);
    }

    public Causality compare(VersionVector other) {
        boolean less = false;
        boolean greater = false;
        int n = Math.max(counters.length, other.counters.length);
        for (int i = 1; i <= n; i++) {
            long a = counter(i);
            long b = other.counter(i);
            if (a < b) {
                less = true;
            } else if (a > b) {
                greater = true;
            }
        }
        if (less && greater) {
            return Causality.CONCURRENT;
        }
        return less ? Causality.BEFORE : greater ? Causality.AFTER : Causality.EQUAL;
    }

    /** True when this version has seen everything {@code other} has (equal or after). */
    public boolean dominates(VersionVector other) {
        Causality c = compare(other);
        return c == Causality.EQUAL || c == Causality.AFTER;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof VersionVector v && Arrays.equals(counters, v.counters);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(counters);
    }

    @Override
    public String toString() {
        return Arrays.toString(counters);
    }
}
