package dev.ibex.engine.status;

import dev.ibex.engine.journal.ConflictEntry;
import dev.ibex.engine.round.RoundOutcome;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The story of one row for {@code ibex trace}: on every node of its sync the row, the ledger entry
 * (version, origin, change time) and what is pending there; the conflict journal's entries for the
 * key; the sync's last round; and why the nodes hold what they hold, derived from all of that.
 *
 * @param key    the key columns and their values, in key order, as the nodes compare them
 * @param rounds what the round history can say about this key (it records counts, not keys)
 * @param why    the explanation, one sentence per line, derived by {@link TraceExplainer}
 */
public record RowTrace(String sync, String table, Map<String, String> key, String strategy, List<NodeTrace> nodes,
                       List<ConflictEntry> conflicts, LastRound lastRound, String rounds, List<String> why) {
    public static final String PRESENT = "present";
    /** No row, but a ledger entry: the row was deleted (a tombstone). */
    public static final String DELETED = "deleted";
    /** No row and no ledger entry. */
    public static final String ABSENT = "absent";
    public static final String UNKNOWN = "unknown";

    public RowTrace {
        key = Collections.unmodifiableMap(new LinkedHashMap<>(key));
        nodes = List.copyOf(nodes);
        conflicts = List.copyOf(conflicts);
        why = List.copyOf(why);
    }

    /**
     * One node: whether it could be read ({@code error} is the one-line reason when not), the state of
     * the row ({@link #PRESENT}, {@link #DELETED}, {@link #ABSENT} or {@link #UNKNOWN}), the row's columns
     * as text ({@code null} unless present), its ledger entry ({@code null}: none) and what is pending.
     */
    public record NodeTrace(String node, boolean reachable, String error, String state, Map<String, String> row, Ledger ledger,
                            Pending pending) {
        public boolean known() {
            return error == null;
        }
    }

    /**
     * A ledger entry: the key's version (counter per node name, nodes without changes left out, and the
     * raw vector by ordinal), the node whose change made it, that change's time, and the position of the
     * fold that last took a local change to it ({@code null} when the entry came from another node).
     */
    public record Ledger(Map<String, Long> version, List<Long> vector, String origin, String changedAt, String foldTxid) {
    }

    /**
     * What waits on a node: changes to the key in its log that no round has folded yet (how many and
     * the newest one's time), the other nodes that have not applied its ledger entry yet (their
     * watermark for this node is at or below the entry's fold), and those that could not be asked.
     */
    public record Pending(long unfolded, String newestUnfoldedAt, List<String> notYetOn, List<String> unknownOn) {
        public Pending {
            notYetOn = List.copyOf(notYetOn);
            unknownOn = List.copyOf(unknownOn);
        }

        public static final Pending NONE = new Pending(0, null, List.of(), List.of());

        public boolean any() {
            return unfolded > 0 || !notYetOn.isEmpty();
        }
    }

    /** The sync's last round: when it started, its outcome, keys decided, conflicts, error. */
    public record LastRound(String startedAt, RoundOutcome outcome, long keysDecided, long conflicts, String error) {
    }
}
