package dev.ibex.engine.status;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ibex.engine.fence.Engines;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class EngineStatusTest {
    private static final Instant T = Instant.parse("2026-12-06T23:40:01Z");

    private static EngineStatus status(String state, long heartbeatAgeMillis) {
        return EngineStatus.of(new Engines.EngineRow("eng-1", "127.0.0.1:25521", state, "dev", 42L, T, T, 3, heartbeatAgeMillis));
    }

    @Test
    void showsTheStateTheEngineWroteWhileItsHeartbeatIsRecent() {
        assertEquals("up", status("up", 0).state());
        assertEquals("up", status("up", 10_000).state());
        assertEquals("stopping", status("stopping", 3_000).state());
        assertEquals("stopped", status("stopped", 0).state());
    }

    @Test
    void anEngineThatHasNotStoppedButIsSilentForMoreThanTenSecondsIsNotResponding() {
        assertEquals(EngineStatus.NOT_RESPONDING, status("up", 10_001).state());
        assertEquals(EngineStatus.NOT_RESPONDING, status("stopping", 60_000).state());
        assertEquals("stopped", status("stopped", 86_400_000).state());
    }

    @Test
    void agesAreWholeSecondsAndNeverNegative() {
        assertEquals(42, status("up", 42_999).heartbeatAgeSeconds());
        assertEquals(0, status("up", -300).heartbeatAgeSeconds());
        EngineStatus s = status("up", 1_000);
        assertEquals(3, s.syncsOwned());
        assertEquals(42L, s.pid());
        assertEquals(T, s.lastHeartbeatAt());
    }
}
