package dev.ibex.conflict;

import java.util.Comparator;

/**
 * The {@code latest} strategy: the concurrent change with the greatest change timestamp wins;
 * equal timestamps go to the author node whose name sorts first.
 */
public final class LatestResolver implements ConflictResolver {
    /** Greatest stamp first, then the smallest author name. */
    public static final Comparator<Side> ORDER = Comparator.comparingLong(Side::stampMicros).reversed()
            .thenComparing(s -> s.author().name())
            .thenComparing(s -> s.node().name());

    @Override
    public Resolution resolve(Conflict conflict) {
        return Resolution.take(conflict.sides().stream().min(ORDER).orElseThrow());
    }

    @Override
    public String name() {
        return "latest";
    }
}
