package dev.ibex.engine.capture;

import dev.ibex.engine.config.TableRef;
import java.time.Instant;
import java.util.List;

/**
 * One captured table as a node's capture catalog ({@code ibex.capture}) describes it: its ledger,
 * its key, whether its log records row bases, which of its two log tables the triggers write to now
 * and since when, and the size of each log table.
 */
public record CapturedTable(TableRef table, String ledger, List<String> key, boolean bases, int slot, Instant slotSince,
                            long[] logBytes) {
    public CapturedTable {
        key = List.copyOf(key);
        logBytes = logBytes.clone();
    }

    /** True when either log table holds anything, folded or not. */
    public boolean logged() {
        return logBytes[0] > 0 || logBytes[1] > 0;
    }
}
