package dev.ibex.engine.round;

import dev.ibex.engine.fence.Fence;
import dev.ibex.conflict.Decision;
import dev.ibex.conflict.ManualResolver;
import dev.ibex.engine.config.TableRef;
import java.util.List;
import java.util.Map;

/** Where a round sends the conflicts it decides, and where it finds operators' choices. */
public interface ConflictSink {
    /**
     * Records decisions of one table that were conflicts (decided, held or applied choices), chunk
     * by chunk, in a transaction that checks {@code fence} (the sync and the epoch it is owned at).
     */
    void record(Fence fence, TableRef table, List<Decision> conflicts);

    /** The operators' choices for a table's held conflicts that no round has applied yet, by key. */
    Map<List<String>, ManualResolver.Choice> choices(String sync, TableRef table);

    /**
     * The operators' repairs ({@code ibex validate --repair-from}) that no round has finished yet,
     * by table and key: one read per round, whatever the number of tables.
     */
    Map<TableRef, Map<List<String>, Repair>> repairs(String sync);

    /**
     * Marks repairs finished, in a transaction that checks {@code fence}: {@code applied}, every
     * node now holds the repairing node's row; {@code superseded}, a node changed the key since the
     * validation and that change was decided as usual instead.
     */
    void repaired(Fence fence, TableRef table, List<List<String>> applied, List<List<String>> superseded);
}
