package dev.ibex.conflict;

import java.util.ArrayList;
import java.util.List;

/**
 * Decides one row across every node of a sync. If one side's version has seen all the others
 * (dominates them), it wins with no conflict, whatever the clocks say. Otherwise the sides that
 * no other side has seen are concurrent and the resolver picks among them. Either way every
 * node ends with the winner's image and the join of all versions, so a later local change on
 * any node supersedes this decision. Pure: the same sides in any order give the same decision.
 */
public final class Decider {
    private Decider() {
    }

    public static Decision decide(String table, List<String> key, List<Side> sides, ConflictResolver resolver) {
        if (sides.isEmpty()) {
            throw new IllegalArgumentException("no sides to decide for " + table + " key " + key);
        }
        VersionVector joined = VersionVector.EMPTY;
        for (Side s : sides) {
            joined = joined.join(s.version());
        }
        List<Side> maximal = maximal(sides);
        Side first = maximal.get(0);
        boolean allSame = maximal.stream().allMatch(s -> s.version().equals(first.version()));
        if (allSame) {
            Side winner = maximal.stream().min(LatestResolver.ORDER).orElseThrow();
            return new Decision(winner, winner.image(), joined, null, null);
        }
        List<Side> distinct = distinctVersions(maximal);
        Conflict conflict = new Conflict(table, key, distinct);
        Resolution r = resolver.resolve(conflict);
        if (r == null) {
            throw new IllegalStateException("resolver " + resolver.name() + " returned no resolution for " + table + " key " + key);
        }
        return new Decision(r.winner(), r.image(), joined, conflict, resolver.name(), r.merged(), r.held());
    }

    /** Sides whose version no other side's version strictly follows. */
    static List<Side> maximal(List<Side> sides) {
        List<Side> out = new ArrayList<>();
        for (Side s : sides) {
            boolean superseded = false;
            for (Side o : sides) {
                if (s.version().compare(o.version()) == Causality.BEFORE) {
                    superseded = true;
                    break;
                }
            }
            if (!superseded) {
                out.add(s);
            }
        }
        return out;
    }

    /** One side per distinct version (nodes holding the same version hold the same change). */
    private static List<Side> distinctVersions(List<Side> sides) {
        List<Side> out = new ArrayList<>();
        for (Side s : sides.stream().sorted(LatestResolver.ORDER).toList()) {
            if (out.stream().noneMatch(o -> o.version().equals(s.version()))) {
                out.add(s);
            }
        }
        return out;
    }
}
