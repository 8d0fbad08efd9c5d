package dev.ibex.engine.capture;

import dev.ibex.engine.window.Snapshot;
import java.util.Set;
import java.util.TreeSet;

/**
 * Which transactions may still bring captured changes that a fold could not take, so that the
 * engine wakes when one of them ends rather than at the sync's next scheduled round. A capture
 * advances the sync's change counter before its transaction commits; the engine reads the counter
 * before each fold's snapshot. A transaction that captured before that reading and had not
 * committed when the snapshot was taken is in the snapshot's in-progress list. So after a fold the
 * transactions to watch are those in progress at the fold that either were watched already or may
 * have captured since the previous fold (the counter moved). Pure.
 */
public final class InFlight {
    private InFlight() {
    }

    /**
     * @param watched the transactions watched after the previous fold
     * @param counted whether the counter moved between the previous fold's reading and this one's
     * @param fold    this fold's snapshot
     */
    public static Set<Long> next(Set<Long> watched, boolean counted, Snapshot fold) {
        Set<Long> out = new TreeSet<>();
        for (long x : fold.inProgress()) {
            if (counted || watched.contains(x)) {
                out.add(x);
            }
        }
        return out;
    }
}
