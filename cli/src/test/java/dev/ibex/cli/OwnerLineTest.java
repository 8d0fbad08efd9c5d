package dev.ibex.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ibex.engine.status.SyncStatus;
import org.junit.jupiter.api.Test;

/** The owner line of {@code ibex status} and the ages that it and {@code ibex engines} print. */
class OwnerLineTest {
    private static final String SINCE = "2026-12-06T23:40:01.123456Z";

    @Test
    void namesTheEngineItsAddressSinceWhenAndTheEpoch() {
        assertEquals("engine eng-2 (127.0.0.1:25521) since 2026-12-06T23:40:01Z, epoch 7",
                StatusCommand.owner(new SyncStatus.Owner("eng-2", "127.0.0.1:25521", SINCE, 7, "up", 1L)));
        assertEquals("engine host/99 (standalone) since 2026-12-06T23:40:01Z, epoch 1",
                StatusCommand.owner(new SyncStatus.Owner("host/99", null, "2026-12-06T23:40:01.5+00:00", 1, "up", 0L)));
    }

    @Test
    void saysWhenTheOwnersEngineNoLongerRunsIt() {
        assertEquals("engine eng-2 (127.0.0.1:25521) since 2026-12-06T23:40:01Z, epoch 7, not responding for 42 s",
                StatusCommand.owner(new SyncStatus.Owner("eng-2", "127.0.0.1:25521", SINCE, 7, "not responding", 42L)));
        assertEquals("engine eng-2 (standalone) since 2026-12-06T23:40:01Z, epoch 7, stopped",
                StatusCommand.owner(new SyncStatus.Owner("eng-2", null, SINCE, 7, "stopped", 900L)));
        assertEquals("engine eng-2 (standalone) since 2026-12-06T23:40:01Z, epoch 7, no heartbeat on record",
                StatusCommand.owner(new SyncStatus.Owner("eng-2", null, SINCE, 7, null, null)));
    }

    @Test
    void noOwner() {
        assertEquals("none (no engine runs this sync)", StatusCommand.owner(null));
    }

    @Test
    void agesUseTheLargestUnitThatKeepsTwoOrMore() {
        assertEquals("0 s", EnginesCommand.age(0));
        assertEquals("119 s", EnginesCommand.age(119));
        assertEquals("2 min", EnginesCommand.age(120));
        assertEquals("119 min", EnginesCommand.age(2 * 3600 - 1));
        assertEquals("2 h", EnginesCommand.age(2 * 3600));
        assertEquals("47 h", EnginesCommand.age(2 * 86_400 - 1));
        assertEquals("2 d", EnginesCommand.age(2 * 86_400));
    }
}
