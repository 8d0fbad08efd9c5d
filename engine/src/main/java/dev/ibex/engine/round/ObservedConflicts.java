package dev.ibex.engine.round;

import dev.ibex.conflict.Decision;
import dev.ibex.conflict.ManualResolver;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.fence.Fence;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** A {@link ConflictSink} that tells a {@link RoundObserver} about the conflicts once the journal has them. */
public final class ObservedConflicts implements ConflictSink {
    private final ConflictSink journal;
    private final RoundObserver observer;

    public ObservedConflicts(ConflictSink journal, RoundObserver observer) {
        this.journal = journal;
        this.observer = observer;
    }

    @Override
    public void record(Fence fence, TableRef table, List<Decision> conflicts) {
        journal.record(fence, table, conflicts);
        Map<String, Long> byStrategy = new TreeMap<>();
        conflicts.forEach(d -> byStrategy.merge(d.strategy(), 1L, Long::sum));
        byStrategy.forEach((strategy, n) -> observer.conflicts(fence.sync(), table, strategy, n));
    }

    @Override
    public Map<List<String>, ManualResolver.Choice> choices(String sync, TableRef table) {
        return journal.choices(sync, table);
    }

    @Override
    public Map<TableRef, Map<List<String>, Repair>> repairs(String sync) {
        return journal.repairs(sync);
    }

    @Override
    public void repaired(Fence fence, TableRef table, List<List<String>> applied, List<List<String>> superseded) {
        journal.repaired(fence, table, applied, superseded);
    }
}
