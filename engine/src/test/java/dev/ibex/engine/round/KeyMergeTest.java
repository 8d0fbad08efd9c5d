package dev.ibex.engine.round;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class KeyMergeTest {
    private static List<String> k(String... parts) {
        return List.of(parts);
    }

    @Test
    void mergesSortedStreamsIntoDistinctKeysInOrder() {
        KeyMerge m = new KeyMerge(List.of(
                List.of(k("1"), k("3"), k("5")).iterator(),
                List.of(k("2"), k("3")).iterator(),
                List.<List<String>>of().iterator(),
                List.of(k("1"), k("6")).iterator()));
        assertEquals(List.of(k("1"), k("2"), k("3")), m.nextChunk(3));
        assertEquals(List.of(k("5"), k("6")), m.nextChunk(10));
        assertTrue(m.nextChunk(10).isEmpty());
    }

    @Test
    void orderIsByCodePointColumnByColumn() {
        assertTrue(KeyOrder.INSTANCE.compare(k("10"), k("9")) < 0, "text order, as COLLATE \"C\"");
        assertTrue(KeyOrder.INSTANCE.compare(k("a", "z"), k("b", "a")) < 0);
        assertTrue(KeyOrder.INSTANCE.compare(k("Z"), k("a")) < 0);
        assertTrue(KeyOrder.INSTANCE.compare(k("\uFFFF"), k("\uD83D\uDE00")) < 0, "supplementary characters sort last, as in UTF-8");
        assertEquals(0, KeyOrder.INSTANCE.compare(k("x", "y"), k("x", "y")));
    }

    @Test
    void randomStreamsMergeToTheirSortedUnion() {
        Random r = new Random(7);
        for (int round = 0; round < 200; round++) {
            List<java.util.Iterator<List<String>>> streams = new ArrayList<>();
            TreeSet<List<String>> union = new TreeSet<>(KeyOrder.INSTANCE);
            for (int s = 0; s < 1 + r.nextInt(5); s++) {
                TreeSet<List<String>> one = new TreeSet<>(KeyOrder.INSTANCE);
                for (int i = 0; i < r.nextInt(50); i++) {
                    one.add(k(Integer.toString(r.nextInt(100)), r.nextBoolean() ? "x" : "y"));
                }
                union.addAll(one);
                streams.add(one.iterator());
            }
            KeyMerge m = new KeyMerge(streams);
            List<List<String>> out = new ArrayList<>();
            while (m.hasNext()) {
                out.addAll(m.nextChunk(1 + r.nextInt(7)));
            }
            assertEquals(new ArrayList<>(union), out);
        }
    }
}
