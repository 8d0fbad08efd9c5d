package dev.ibex.engine.round;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ibex.conflict.NodeId;
import dev.ibex.conflict.RowImage;
import dev.ibex.conflict.Side;
import dev.ibex.conflict.VersionVector;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ChunkSizerTest {
    @ParameterizedTest(name = "after {0} keys of {1} chars: {2} keys")
    @CsvSource({
        // first chunk of a round: its width is unknown
        "0, 0, 1000",
        // narrow rows (two sides of ~100 chars): grow by doubling until the budget
        "1000, 200000, 2000",
        "4000, 800000, 8000",
        "8000, 1600000, 11781",
        // wide rows: as many as fit in 8 MiB of row text (and 512 bytes a key) at the last chunk's width
        "1000, 65536000, 127",
        "10000, 655360000, 127",
        // keys with no row: the maximum
        "16000, 0, 16000",
        // one row wider than the budget: one key at a time
        "1, 20000000, 1",
        "100, 2000000000, 1",
        // keys with no row anywhere (deletes everywhere): doubling, not a jump to the maximum
        "10, 0, 20"
    })
    void sizesByBytesAndGrowsAtMostTwofold(int lastKeys, long lastChars, int expected) {
        assertEquals(expected, ChunkSizer.next(lastKeys, lastChars));
    }

    @Test
    void countsEachValueWithTheObjectsHoldingIt() {
        RowImage row = new RowImage(List.of("id", "note", "gone"), java.util.Arrays.asList("12", "hello", null));
        Side side = new Side(new NodeId("a", 1), VersionVector.EMPTY, 0, null, row);
        assertEquals(3 * ChunkSizer.VALUE_OVERHEAD + 7, ChunkSizer.chars(side));
        assertEquals(0, ChunkSizer.chars(new Side(new NodeId("b", 2), VersionVector.EMPTY, 0, null, null)));
    }
}
