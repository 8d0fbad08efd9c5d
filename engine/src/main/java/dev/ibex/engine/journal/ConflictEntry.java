package dev.ibex.engine.journal;

import java.time.OffsetDateTime;
import java.util.List;
import java.util.Map;

/**
 * A conflict as the journal holds it: the key, every concurrent side, the strategy and the winner
 * ({@code null} while the conflict is open), its status and, for {@code manual}, who resolved it.

 */
public record ConflictEntry(long id, String sync, String tableSchema, String tableName, List<String> key, String strategy,
                            String winner, List<SideEntry> sides, OffsetDateTime decidedAt, ConflictState status, String resolvedBy,
                            OffsetDateTime resolvedAt) {
    /** One side: node, version, change time, and row image ({@code null} row: deleted). */
    public record SideEntry(String node, String origin, List<Long> version, String changedAt, Map<String, String> row) {
    }
}
