package dev.ibex.engine.round;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ChunkPlannerTest {
    @ParameterizedTest(name = "after {0} keys of {1} chars: {2} keys")
    @CsvSource({
        // first chunk of a round: its width is unknown
        "0, 0, 100",
        // narrow rows (two sides of ~100 chars): grow by doubling up to the maximum
        "100, 20000, 200",
        "800, 160000, 1000",
        "1000, 200000, 1000",
        // wide rows: as many as fit in 8 MiB of row text at the last chunk's width
        "100, 6553600, 128",
        "1000, 65536000, 128",
        // one row wider than the budget: one key at a time
        "1, 20000000, 1",
        "100, 2000000000, 1",
        // keys with no row anywhere (deletes everywhere): doubling, not a jump to the maximum
        "10, 0, 20"
    })
    void sizesByBytesAndGrowsAtMostTwofold(int lastKeys, long lastChars, int expected) {
        assertEquals(expected, ChunkPlanner.next(lastKeys, lastChars));
    }
}
