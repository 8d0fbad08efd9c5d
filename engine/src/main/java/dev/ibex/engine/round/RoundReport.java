package dev.ibex.engine.round;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * What one round of a sync did: per node, reachability and rows applied; keys decided, conflicts,
 * errors (each naming node and table), whether more work was already waiting at its end, how
 * many ledger entries it purged (summed over nodes), and how many tables some reachable target
 * did not fully take for a reason that may pass (an error while reading or applying, rows an
 * application held locked; not a pause): the engine retries those after its failure backoff rather
 * than after the sync's interval.
 */
public record RoundReport(String sync, Instant started, Instant finished, Map<String, NodeRound> nodes,
                          long keysDecided, long conflicts, List<String> errors, boolean moreWork, long ledgerPurged,
                          int tablesLeftBehind) {
    public RoundReport {
        nodes = Map.copyOf(nodes);
        errors = List.copyOf(errors);
    }

    public long rowsApplied() {
        return nodes.values().stream().mapToLong(NodeRound::applied).sum();
    }

    public Duration duration() {
        return Duration.between(started, finished);
    }

    public String outcome() {
        if (errors.isEmpty()) {
            return "ok";
        }
        return nodes.values().stream().filter(NodeRound::reachable).count() >= 2 ? "partial" : "failed";
    }
}
