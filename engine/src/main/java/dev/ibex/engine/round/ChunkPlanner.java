package dev.ibex.engine.round;

import dev.ibex.conflict.ConflictResolver;
import dev.ibex.conflict.Decider;
import dev.ibex.conflict.Decision;
import dev.ibex.conflict.Side;
import dev.ibex.conflict.VersionVector;
import dev.ibex.engine.apply.CopyRow;
import dev.ibex.engine.apply.RowChange;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Decides a chunk of keys for every node at once. Pure: sides in, plan out.
 *
 * <p>{@link #triage} settles the common case from versions alone: when the source's version has seen
 * every other node's, the source's row (which its change stream carries) goes to every node whose
 * version differs, with the source's version, stamp and origin. Nothing else is decided there: a key
 * some node changed again since its fold is deferred to the next round (whose fold takes that change),
 * and a key whose versions are concurrent, whose winner is not the source, that an operator has a
 * choice for, or whose table tracks bases goes to {@link #decide}, which the caller feeds with every
 * node's row as well.
 */
final class ChunkPlanner {
    /** What triage settled: the rows each target gets, the keys (by index) that need every row, and how many it deferred. */
    record Triage(Map<String, List<RowChange>> changes, List<Integer> slow, int deferred) {
    }

    /** The outcome of one key decided with every row: the decision, and the row each target gets. */
    record Outcome(Decision decision, Map<String, RowChange> changes, boolean deferred) {
        static final Outcome DEFERRED = new Outcome(null, Map.of(), true);
    }

    private ChunkPlanner() {
    }

    /**
     * @param keys   the chunk's keys
     * @param sides  per node, one side per key in the order of {@code keys}; the source's carry rows
     * @param source the node whose changes the chunk holds, or {@code null} when none does (operator choices)
     * @param slow   keys that must be decided with every row whatever their versions
     * @param bases  whether the table tracks bases (then every key needs every row)
     */
    static Triage triage(List<List<String>> keys, Map<String, List<KeySide>> sides, String source, Set<List<String>> slow,
                         boolean bases) {
        Map<String, List<RowChange>> changes = new LinkedHashMap<>();
        List<Integer> needRows = new ArrayList<>();
        int deferred = 0;
        for (int i = 0; i < keys.size(); i++) {
            final int k = i;
            List<KeySide> all = sides.values().stream().map(l -> l.get(k)).toList();
            if (all.stream().anyMatch(s -> !s.settled())) {
                deferred++;
                continue;
            }
            KeySide from = source == null ? null : sides.get(source).get(i);
            VersionVector joined = join(all);
            if (bases || from == null || slow.contains(keys.get(i)) || !from.version().equals(joined)) {
                needRows.add(i);
                continue;
            }
            for (KeySide s : all) {
                if (!s.version().equals(joined)) {
                    changes.computeIfAbsent(s.node().name(), n -> new ArrayList<>()).add(new RowChange(keys.get(i), from.row(),
                            s.seen(), s.version(), joined, from.stampMicros(), from.author().ordinal()));
                }
            }
        }
        return new Triage(changes, needRows, deferred);
    }

    /**
     * Decides one key from every node's side with its row: a dominating version wins, concurrent
     * ones go to the resolver. Every node whose version or row differs from the decision gets the
     * decided row; so does a node with a pending base (to clear it), unless the key is held.
     *
     * @throws RuntimeException what the resolver threw
     */
    static Outcome decide(String table, List<String> key, List<KeySide> sides, ConflictResolver resolver) {
        if (sides.stream().anyMatch(s -> !s.settled())) {
            return Outcome.DEFERRED;
        }
        List<Side> plain = sides.stream().map(KeySide::side).toList();
        Decision d = Decider.decide(table, key, plain, resolver);
        List<Side> stale = d.stale(plain);
        Map<String, RowChange> changes = new LinkedHashMap<>();
        CopyRow row = d.image() == null ? null : CopyRow.of(d.image());
        for (int i = 0; i < sides.size(); i++) {
            KeySide s = sides.get(i);
            if (stale.contains(plain.get(i)) || (s.base() != null && !d.held())) {
                changes.put(s.node().name(), new RowChange(key, row, s.seen(), s.version(), d.version(),
                        d.winner().stampMicros(), d.winner().author().ordinal()));
            }
        }
        return new Outcome(d, changes, false);
    }

    private static VersionVector join(List<KeySide> sides) {
        VersionVector v = VersionVector.EMPTY;
        for (KeySide s : sides) {
            v = v.join(s.version());
        }
        return v;
    }
}
