package dev.ibex.engine.runtime;

import java.time.Duration;

/**
 * The delay before a sync's next round. Pure. When a kick (an application's commit) came in while
 * the round ran: at once, failed or not, as a kick that comes in between rounds starts one at once.
 * Otherwise, after a failed round (or one that left a table behind on some target): one second,
 * doubled per consecutive failure, but never more than the interval (or one second) nor than the
 * backoff cap, so that a passing error is retried at once even under a long interval and a lasting
 * one is not retried more than once a cap; with work already waiting: at once; otherwise the
 * interval.
 */
final class Pacing {
    private static final Duration FIRST_RETRY = Duration.ofSeconds(1);

    private Pacing() {
    }

    static Duration nextDelay(Duration interval, int consecutiveFailures, boolean kicked, boolean workWaiting, Duration maxBackoff) {
        if (kicked) {
            return Duration.ZERO;
        }
        if (consecutiveFailures > 0) {
            Duration d = FIRST_RETRY.multipliedBy(1L << Math.min(consecutiveFailures - 1, 10));
            Duration cap = interval.compareTo(FIRST_RETRY) < 0 ? FIRST_RETRY : interval;
            cap = cap.compareTo(maxBackoff) > 0 ? maxBackoff : cap;
            return d.compareTo(cap) > 0 ? cap : d;
        }
        return workWaiting ? Duration.ZERO : interval;
    }
}
