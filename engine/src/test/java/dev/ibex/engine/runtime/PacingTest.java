package dev.ibex.engine.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class PacingTest {
    private static final Duration MAX = Duration.ofSeconds(30);

    @Test
    void waitsTheIntervalRunsAtOnceWithWork() {
        Duration i = Duration.ofSeconds(5);
        assertEquals(i, Pacing.nextDelay(i, 0, false, false, MAX));
        assertEquals(Duration.ZERO, Pacing.nextDelay(i, 0, false, true, MAX));
    }

    @Test
    void retriesAFailureAfterASecondThenBacksOffUpToTheIntervalOrTheCap() {
        Duration i = Duration.ofSeconds(5);
        assertEquals(Duration.ofSeconds(1), Pacing.nextDelay(i, 1, false, true, MAX), "waiting work does not skip the backoff");
        assertEquals(Duration.ofSeconds(4), Pacing.nextDelay(i, 3, false, false, MAX));
        assertEquals(i, Pacing.nextDelay(i, 4, false, false, MAX), "never slower than the interval");
        Duration hour = Duration.ofHours(1);
        assertEquals(Duration.ofSeconds(1), Pacing.nextDelay(hour, 1, false, false, MAX), "a long interval does not delay the retry");
        assertEquals(Duration.ofSeconds(16), Pacing.nextDelay(hour, 5, false, false, MAX));
        assertEquals(MAX, Pacing.nextDelay(hour, 6, false, false, MAX));
        assertEquals(MAX, Pacing.nextDelay(hour, 60, false, false, MAX));
        assertEquals(Duration.ofSeconds(1), Pacing.nextDelay(Duration.ofMillis(100), 3, false, false, MAX), "at least a second apart");
    }

    /**
     * Writers holding rows locked make rounds leave rows behind, so failures pile up; the last
     * writes' kick, come in during such a round, must not wait out the backoff (W4 settled in
     * 5.6 s instead of about 1 s when it did).
     */
    @Test
    void aKickDuringTheRoundStartsTheNextAtOnceEvenAfterFailures() {
        Duration i = Duration.ofSeconds(5);
        assertEquals(Duration.ZERO, Pacing.nextDelay(i, 0, true, false, MAX));
        assertEquals(Duration.ZERO, Pacing.nextDelay(i, 3, true, false, MAX));
        assertEquals(Duration.ZERO, Pacing.nextDelay(Duration.ofHours(1), 60, true, true, MAX));
    }
}
