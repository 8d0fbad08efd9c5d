package dev.ibex.engine.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class PacingTest {
    private static final Duration MAX = Duration.ofSeconds(30);

    @Test
    void waitsTheIntervalRunsAtOnceWithWorkAndBacksOffOnFailure() {
        Duration i = Duration.ofSeconds(5);
        assertEquals(i, Pacing.nextDelay(i, 0, false, MAX));
        assertEquals(Duration.ZERO, Pacing.nextDelay(i, 0, true, MAX));
        assertEquals(Duration.ofSeconds(5), Pacing.nextDelay(i, 1, true, MAX));
        assertEquals(Duration.ofSeconds(20), Pacing.nextDelay(i, 3, false, MAX));
        assertEquals(MAX, Pacing.nextDelay(i, 9, false, MAX));
        assertEquals(Duration.ofSeconds(2), Pacing.nextDelay(Duration.ofMillis(100), 2, false, MAX), "at least 1 s base when failing");
    }
}
