package dev.ibex.engine.journal;

import java.time.OffsetDateTime;
import java.util.List;
import java.util.Map;

/**
 * A conflict as the journal holds it: the key, every concurrent side, the strategy and the winner
 * ({@code null} while the conflict is open), its status and, for {@code manual}, who resolved it.
 *
 * @param status {@code decided} (a strategy chose), {@code open} (held for an operator), {@code
 *               resolved} (an operator chose; the next round applies it) or {@code applied}
 */
public record ConflictEntry(long id, String sync, String tableSchema, String tableName, List<String> key, String strategy,
                            String winner, List<SideEntry> sides, OffsetDateTime decidedAt, String status, String resolvedBy,
                            OffsetDateTime resolvedAt) {
    public static final String DECIDED = "decided";
    public static final String OPEN = "open";
    public static final String RESOLVED = "resolved";
    public static final String APPLIED = "applied";

    /** One side: node, version, change time, and row image ({@code null} row: deleted). */
    public record SideEntry(String node, String origin, List<Long> version, String changedAt, Map<String, String> row) {
    }
}
