package dev.ibex.engine.runtime;

import java.time.Duration;

/**
 * The delay before a sync's next round. Pure. After a failed round: the interval doubled per
 * consecutive failure, capped; with work already waiting: at once; otherwise the interval.
 */
final class Pacing {
    private Pacing() {
    }

    static Duration nextDelay(Duration interval, int consecutiveFailures, boolean workWaiting, Duration maxBackoff) {
        if (consecutiveFailures > 0) {
            Duration base = interval.compareTo(Duration.ofSeconds(1)) < 0 ? Duration.ofSeconds(1) : interval;
            long factor = 1L << Math.min(consecutiveFailures - 1, 10);
            Duration d = base.multipliedBy(factor);
            return d.compareTo(maxBackoff) > 0 ? maxBackoff : d;
        }
        return workWaiting ? Duration.ZERO : interval;
    }
}
