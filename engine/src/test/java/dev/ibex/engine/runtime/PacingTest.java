package dev.ibex.engine.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class PacingTest {
    private static final Duration MAX = Duration.ofSeconds(30);

    @Test
    void waitsTheIntervalRunsAtOnceWithWork() {
        Duration i = Duration.ofSeconds(5);
        assertEquals(i, Pacing.nextDelay(i, 0, false, MAX));
        assertEquals(Duration.ZERO, Pacing.nextDelay(i, 0, true, MAX));
    }

    @Test
    void retriesAFailureAfterASecondThenBacksOffUpToTheIntervalOrTheCap() {
        Duration i = Duration.ofSeconds(5);
        assertEquals(Duration.ofSeconds(1), Pacing.nextDelay(i, 1, true, MAX), "waiting work does not skip the backoff");
        assertEquals(Duration.ofSeconds(4), Pacing.nextDelay(i, 3, false, MAX));
        assertEquals(i, Pacing.nextDelay(i, 4, false, MAX), "never slower than the interval");
        Duration hour = Duration.ofHours(1);
        assertEquals(Duration.ofSeconds(1), Pacing.nextDelay(hour, 1, false, MAX), "a long interval does not delay the retry");
        assertEquals(Duration.ofSeconds(16), Pacing.nextDelay(hour, 5, false, MAX));
        assertEquals(MAX, Pacing.nextDelay(hour, 6, false, MAX));
        assertEquals(MAX, Pacing.nextDelay(hour, 60, false, MAX));
        assertEquals(Duration.ofSeconds(1), Pacing.nextDelay(Duration.ofMillis(100), 3, false, MAX), "at least a second apart");
    }
}
