package dev.ibex.engine.capture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.config.TableRef;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class ShapeCheckTest {
    private static final TableRef T = new TableRef("public", "t");

    private static TableShape shape(List<String> key, ColumnShape... cols) {
        return new TableShape(T, List.of(cols), key);
    }

    @Test
    void namesNodeTableAndColumnOfEachDifference() {
        Map<String, Optional<TableShape>> m = new LinkedHashMap<>();
        m.put("a", Optional.of(shape(List.of("id"), new ColumnShape("id", "bigint", true), new ColumnShape("v", "text", false))));
        m.put("b", Optional.of(shape(List.of("id"), new ColumnShape("id", "bigint", true), new ColumnShape("v", "integer", false))));
        m.put("c", Optional.empty());
        List<String> p = ShapeCheck.problems(T, m);
        assertEquals(2, p.size(), p.toString());
        assertTrue(p.contains("table public.t does not exist on node c"));
        assertTrue(p.contains("table public.t: column \"v\" is text on node a but integer on node b"));
    }

    @Test
    void refusesTablesWithoutPrimaryKeyAndAcceptsEqualShapes() {
        Map<String, Optional<TableShape>> m = new LinkedHashMap<>();
        m.put("a", Optional.of(shape(List.of(), new ColumnShape("v", "text", false))));
        assertTrue(ShapeCheck.problems(T, m).get(0).contains("has no primary key"));
        Map<String, Optional<TableShape>> ok = new LinkedHashMap<>();
        ok.put("a", Optional.of(shape(List.of("id"), new ColumnShape("id", "uuid", true))));
        ok.put("b", Optional.of(shape(List.of("id"), new ColumnShape("id", "uuid", true))));
        assertTrue(ShapeCheck.problems(T, ok).isEmpty());
    }
}
