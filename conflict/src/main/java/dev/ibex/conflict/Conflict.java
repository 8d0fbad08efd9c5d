package dev.ibex.conflict;

import java.util.List;

/**
 * Concurrent changes to one row: every side whose version no other side has seen.
 *
 * @param table the table, as {@code schema.table}
 * @param key   the key columns' text values, in key column order
 * @param sides at least two sides, pairwise concurrent, in no particular order
 */
public record Conflict(String table, List<String> key, List<Side> sides) {
    public Conflict {
        key = List.copyOf(key);
        sides = List.copyOf(sides);
        if (sides.size() < 2) {
            throw new IllegalArgumentException("a conflict has at least two sides, got " + sides.size());
        }
    }
}
