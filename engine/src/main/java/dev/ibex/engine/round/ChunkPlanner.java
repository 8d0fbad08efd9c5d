package dev.ibex.engine.round;

import dev.ibex.conflict.ConflictResolver;
import dev.ibex.conflict.Decider;
import dev.ibex.conflict.Decision;
import dev.ibex.conflict.Side;
import dev.ibex.conflict.VersionVector;
import dev.ibex.engine.apply.CopyRow;
import dev.ibex.engine.apply.RowChange;
import dev.ibex.engine.window.TxId;
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
    /** What triage settled: the rows each target gets, the keys (by index) that need every row, and those it deferred. */
    record Triage(Map<String, List<RowChange>> changes, List<Integer> slow, List<Integer> deferred) {
    }

    /** The outcome of one key decided with every row: the decision, and the row each target gets. */
    record Outcome(Decision decision, Map<String, RowChange> changes, boolean deferred) {
        static final Outcome DEFERRED = new Outcome(null, Map.of(), true);
    }

    /** The strategy a repair's decision names. */
    static final String REPAIR = "repair";

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
        List<Integer> deferred = new ArrayList<>();
        for (int i = 0; i < keys.size(); i++) {
            final int k = i;
            List<KeySide> all = sides.values().stream().map(l -> l.get(k)).toList();
            if (all.stream().anyMatch(s -> !s.settled())) {
                deferred.add(i);
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

    /**
     * Decides one key an operator repairs: {@code repair.from()}'s row, with its version, goes to
     * every node whose version or row differs from it. Deferred while the repairing node is not in
     * the round. {@code null} (superseded) when a change to the key is not covered by the repair
     * (made after the validation read it, or waiting unfolded: the validation read the ledger
     * without it) or not yet seen by the repairing node (another node's change on its way): that
     * change is newer than the repairing node's row, and is decided as usual instead.
     */
    static Outcome repair(List<String> key, List<KeySide> sides, Repair repair) {
        KeySide from = sides.stream().filter(s -> s.node().name().equals(repair.from())).findFirst().orElse(null);
        if (from == null) {
            return Outcome.DEFERRED;
        }
        VersionVector joined = join(sides);
        if (sides.stream().anyMatch(s -> !s.settled()) || !repair.covers().dominates(joined) || !from.version().equals(joined)) {
            return null;
        }
        Side winner = from.side();
        Decision d = new Decision(winner, winner.image(), joined, null, REPAIR);
        CopyRow row = winner.image() == null ? null : CopyRow.of(winner.image());
        Map<String, RowChange> changes = new LinkedHashMap<>();
        for (KeySide s : sides) {
            boolean same = winner.image() == null ? s.image() == null : winner.image().sameValues(s.image());
            if (!s.version().equals(joined) || !same || s.base() != null) {
                changes.put(s.node().name(), new RowChange(key, row, s.seen(), s.version(), joined,
                        winner.stampMicros() != 0 ? winner.stampMicros() : repair.atMicros(), winner.author().ordinal()));
            }
        }
        return new Outcome(d, changes, false);
    }

    /**
     * Where a source's stream must be read from again, given {@code from} (where earlier chunks of
     * the pass must be read from again, or {@code null}) and the keys this chunk deferred; {@code
     * null} when from nowhere. A key deferred because the source changed it again since its fold needs
     * nothing: the source's next fold takes that change and gives the key a later position than
     * anything read now, so the next stream reads it whatever the watermark. A key deferred because
     * another node changed it (the source's side settled) is read again from its position: its
     * change must still reach every target even if that other node then drops out of the rounds.
     * Every other key of the chunk is decided, so the watermark may pass it.
     *
     * @param from        where the pass's earlier chunks must be read from again, or {@code null}
     * @param deferred    the deferred keys, as indexes into the chunk
     * @param sourceSides the source's side of each key of the chunk, as its stream read it
     * @param positions   each key's position in the source's ledger
     */
    static TxId rereadFrom(TxId from, List<Integer> deferred, List<KeySide> sourceSides, List<TxId> positions) {
        for (int i : deferred) {
            if (sourceSides.get(i).settled()) {
                from = from == null ? positions.get(i) : TxId.min(from, positions.get(i));
            }
        }
        return from;
    }

    private static VersionVector join(List<KeySide> sides) {
        VersionVector v = VersionVector.EMPTY;
        for (KeySide s : sides) {
            v = v.join(s.version());
        }
        return v;
    }
}
