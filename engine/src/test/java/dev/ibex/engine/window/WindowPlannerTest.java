package dev.ibex.engine.window;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WindowPlannerTest {
    private static TxId t(long v) {
        return new TxId(v);
    }

    @Test
    void readsEachSourceFromTheOldestWatermarkAnyReachableTargetHolds() {
        Map<String, TxId> b = new LinkedHashMap<>();
        b.put("a", t(100));
        b.put("b", t(200));
        b.put("c", t(300));
        Map<String, Map<String, TxId>> wm = Map.of(
                "b", Map.of("a", t(90)),
                "c", Map.of("a", t(50), "b", t(150)),
                "a", Map.of("b", t(190), "c", t(250)));
        Map<String, Window> w = WindowPlanner.plan(b, wm);
        assertEquals(new Window("a", t(50), t(100)), w.get("a"));
        assertEquals(new Window("b", t(150), t(200)), w.get("b"));
        assertEquals(new Window("c", t(0), t(300)), w.get("c"), "b never saw c: read c from the start");
    }

    @Test
    void unreachableTargetsDoNotHoldBackTheOthers() {
        Map<String, TxId> b = new LinkedHashMap<>();
        b.put("a", t(100));
        b.put("b", t(200));
        Map<String, Map<String, TxId>> wm = Map.of("b", Map.of("a", t(100)), "a", Map.of("b", t(200)),
                "c", Map.of("a", t(1)));
        Map<String, Window> w = WindowPlanner.plan(b, wm);
        assertTrue(w.get("a").caughtUp());
        assertTrue(w.get("b").caughtUp());
    }
}
