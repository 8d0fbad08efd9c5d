package dev.ibex.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.UsageException;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class DurationsTest {

    @Test
    void parsesEveryUnitAndIso() {
        assertEquals(Duration.ofMillis(500), Durations.parse("--x", "500ms"));
        assertEquals(Duration.ofSeconds(5), Durations.parse("--x", "5s"));
        assertEquals(Duration.ofMinutes(2), Durations.parse("--x", "2m"));
        assertEquals(Duration.ofHours(1), Durations.parse("--x", "1h"));
        assertEquals(Duration.ofDays(30), Durations.parse("--x", "30d"));
        assertEquals(Duration.ofMinutes(90), Durations.parse("--x", "PT1H30M"));
    }

    @Test
    void refusesWhatIsNotADurationNamingOptionAndValue() {
        for (String bad : List.of("soon", "-5s", "5 parsecs", "99999999999999999999d", "9999999999999999d")) {
            UsageException e = assertThrows(UsageException.class, () -> Durations.parse("--journal-retention", bad), bad);
            assertTrue(e.getMessage().startsWith("--journal-retention '" + bad + "'"), e::getMessage);
        }
    }

    @Test
    void positiveRefusesZero() {
        UsageException e = assertThrows(UsageException.class, () -> Durations.positive("--max-clock-skew", "0s", "1s"));
        assertEquals("--max-clock-skew '0s' must be positive, e.g. 1s", e.getMessage());
        assertEquals(Duration.ofMillis(250), Durations.positive("--max-clock-skew", "250ms", "1s"));
    }

    @Test
    void formatsInTheLargestExactUnitAndParsesBack() {
        for (String text : List.of("30d", "1h", "2m", "5s", "1500ms", "25h", "90s")) {
            assertEquals(text, Durations.format(Durations.parse("--x", text)));
        }
        assertEquals("0ms", Durations.format(Duration.ZERO));
    }
}
