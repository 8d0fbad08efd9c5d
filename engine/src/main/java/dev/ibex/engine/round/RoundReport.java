package dev.ibex.engine.round;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * What one round of a sync did: per node, reachability and rows applied; keys decided, conflicts,
 * errors (each naming node and table), the tables a stopping engine cut short (each with what
 * became of it: not started, or stopped after some chunks), whether more work was already waiting at its end, how
 * many ledger entries it purged (summed over nodes), and how many tables some reachable target
 * did not fully take for a reason that may pass (an error while reading or applying, rows an
 * application held locked; not a pause): the engine retries those after its failure backoff rather
 * than after the sync's interval.
 */
public record RoundReport(String sync, Instant started, Instant finished, Map<String, NodeRound> nodes,
                          long keysDecided, long conflicts, List<String> errors, List<String> cutShort, boolean moreWork,
                          long ledgerPurged, int tablesLeftBehind) {
    public RoundReport {
        nodes = Map.copyOf(nodes);
        errors = List.copyOf(errors);
        cutShort = List.copyOf(cutShort);
    }

    /** The errors and, after them, the tables the engine's stop cut short: what the round history records. */
    public List<String> problems() {
        return Stream.concat(errors.stream(), cutShort.stream().map(c -> "engine stopping: " + c)).toList();
    }

    public long rowsApplied() {
        return nodes.values().stream().mapToLong(NodeRound::applied).sum();
    }

    public Duration duration() {
        return Duration.between(started, finished);
    }

    public RoundOutcome outcome() {
        if (errors.isEmpty() && cutShort.isEmpty()) {
            return RoundOutcome.OK;
        }
        return nodes.values().stream().filter(NodeRound::reachable).count() >= 2 ? RoundOutcome.PARTIAL : RoundOutcome.FAILED;
    }
}
