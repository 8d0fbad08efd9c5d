package dev.ibex.engine.capture;

import dev.ibex.engine.window.Snapshot;
import java.util.Set;
import java.util.TreeSet;

/**
 * Which transactions may still bring captured changes that a fold could not take, so that the
 * engine wakes when one of them ends rather than at the sync's next scheduled round. A capture
 * advances the sync's change counter before its transaction commits; the engine reads the counter
 * before each fold, and the next transaction id to be assigned ({@code next}) when it takes the fold's
 * snapshot. A transaction that captured before that reading and had not committed when the snapshot
 * was taken is either in the snapshot's in-progress list or at or above its {@code xmax} (the newest
 * completed transaction plus one) and below {@code next}. So after a fold the transactions to watch
 * are those that may have captured since the previous fold (all of them, if the counter moved) or
 * were watched already, and are still running at the fold. Pure.
 *
 * @param xids a set of transactions watched one by one
 * @param from with {@code to}, a range of transactions watched as a whole ({@code from == to}: none)
 */
public record InFlight(Set<Long> xids, long from, long to) {
    public static final InFlight NONE = new InFlight(Set.of(), 0, 0);

    public InFlight {
        xids = Set.copyOf(xids);
        if (from >= to) {
            from = 0;
            to = 0;
        }
    }

    public boolean isEmpty() {
        return xids.isEmpty() && from >= to;
    }

    /**
     * @param counted whether the counter moved between the previous fold's reading and this one's
     * @param fold    this fold's snapshot
     * @param next    the next transaction id when the fold's snapshot was taken
     */
    public InFlight next(boolean counted, Snapshot fold, long next) {
        if (counted) {
            return new InFlight(Set.copyOf(fold.inProgress()), fold.xmax(), Math.max(fold.xmax(), next));
        }
        Set<Long> still = new TreeSet<>();
        for (long x : xids) {
            if (!fold.visible(x) && x < fold.xmax()) {
                still.add(x);
            }
        }
        return withRange(still, fold);
    }

    /** What is still running, as {@code now} sees it; compare with this to tell whether one ended. */
    public InFlight runningAt(Snapshot now) {
        Set<Long> still = new TreeSet<>();
        for (long x : xids) {
            if (x >= now.xmax() || !now.visible(x)) {
                still.add(x);
            }
        }
        return withRange(still, now);
    }

    /**
     * {@code still} plus the range's transactions that {@code s} sees in progress, one by one, and
     * what is left of the range above {@code s}'s xmax.
     */
    private InFlight withRange(Set<Long> still, Snapshot s) {
        for (long x : s.inProgress()) {
            if (x >= from && x < to) {
                still.add(x);
            }
        }
        long lo = Math.max(from, s.xmax());
        return new InFlight(still, lo, Math.max(lo, to));
    }
}
