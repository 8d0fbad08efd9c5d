package dev.ibex.engine.capture;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ibex.engine.config.TableRef;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class LogRotationTest {
    private static final Instant NOW = Instant.parse("2026-12-06T12:00:00Z");

    @ParameterizedTest(name = "slot {0}, bytes {1}/{2}, current for {3} s: truncate other {4}, rotate {5}")
    @CsvSource({
        // both empty: nothing to do, however long
        "0, 0, 0, 3600, false, false",
        // the current log is small and young: leave it
        "0, 8192, 0, 1, false, false",
        // ... but rotate it once it has held something for a while, so an idle table ends with empty logs
        "0, 8192, 0, 11, false, true",
        // or once it is large
        "1, 0, 2097152, 1, false, true",
        // the other log still holds rows: truncate it first (rotation waits until it is empty)
        "0, 8192, 8192, 1, true, false",
        "1, 8192, 2097152, 30, true, true",
    })
    void plansWhatToDoWithATablesLog(int slot, long bytes0, long bytes1, long ageSeconds, boolean truncate, boolean rotate) {
        CapturedTable t = new CapturedTable(new TableRef("public", "t"), "ledger_x", List.of("id"), false, slot,
                NOW.minusSeconds(ageSeconds), new long[] {bytes0, bytes1});
        assertEquals(new LogRotation.Plan(truncate, rotate), LogRotation.plan(t, NOW));
    }
}
