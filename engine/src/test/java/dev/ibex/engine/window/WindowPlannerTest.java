package dev.ibex.engine.window;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WindowPlannerTest {
    private static TxId t(long v) {
        return new TxId(v);
    }

    @Test
    void readsEachSourceFromTheOldestWatermarkAnyOtherNodeHolds() {
        Map<String, Map<String, TxId>> wm = Map.of(
                "b", Map.of("a", t(90)),
                "c", Map.of("a", t(50), "b", t(150)),
                "a", Map.of("b", t(190), "c", t(250)));
        Map<String, TxId> from = WindowPlanner.from(List.of("a", "b", "c"), wm);
        assertEquals(t(50), from.get("a"));
        assertEquals(t(150), from.get("b"));
        assertEquals(t(0), from.get("c"), "b never saw c: read c from the start");
    }

    @Test
    void nodesOutOfTheRoundDoNotHoldBackTheOthers() {
        Map<String, Map<String, TxId>> wm = Map.of("b", Map.of("a", t(100)), "a", Map.of("b", t(200)),
                "c", Map.of("a", t(1)));
        Map<String, TxId> from = WindowPlanner.from(List.of("a", "b"), wm);
        assertEquals(t(100), from.get("a"));
        assertEquals(t(200), from.get("b"));
    }
}
