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

    @Test
    void namesTheNodesWithoutKeyOnlyWhenOthersHaveOne() {
        Map<String, Optional<TableShape>> m = new LinkedHashMap<>();
        m.put("a", Optional.of(shape(List.of("id"), new ColumnShape("id", "uuid", true))));
        m.put("b", Optional.of(shape(List.of(), new ColumnShape("id", "uuid", true))));
        assertEquals(List.of("table public.t has no primary key and no unique index over NOT NULL columns on node b: add one, "
                + "e.g. ALTER TABLE public.t ADD PRIMARY KEY (column, ...)"), ShapeCheck.problems(T, m));
        m.put("a", Optional.of(shape(List.of(), new ColumnShape("id", "uuid", true))));
        assertEquals(List.of("table public.t has no primary key and no unique index over NOT NULL columns: add one, "
                + "e.g. ALTER TABLE public.t ADD PRIMARY KEY (column, ...)"), ShapeCheck.problems(T, m));
    }

    @Test
    void aUniqueIndexOverOtherColumnsIsAShapeDifferenceAndOverTheSameOnesIsNot() {
        ColumnShape id = new ColumnShape("id", "bigint", true);
        ColumnShape code = new ColumnShape("code", "text", true);
        Map<String, Optional<TableShape>> m = new LinkedHashMap<>();
        m.put("a", Optional.of(new TableShape(T, List.of(id, code), List.of("code"), "t_code_key", false, TableShape.Partitioning.NONE)));
        m.put("b", Optional.of(new TableShape(T, List.of(id, code), List.of("id"), "t_pkey", true, TableShape.Partitioning.NONE)));
        assertEquals(List.of("table public.t: the key is unique index t_code_key (code) on node a but primary key (id) on node b; "
                + "give the table the same primary key or unique index on every node"), ShapeCheck.problems(T, m));
        m.put("b", Optional.of(new TableShape(T, List.of(id, code), List.of("code"), "other_name", false, TableShape.Partitioning.NONE)));
        assertEquals(List.of(), ShapeCheck.problems(T, m));
    }

    @Test
    void refusesAPartitionNamingItsRootAndASubPartitionedTable() {
        Map<String, Optional<TableShape>> m = new LinkedHashMap<>();
        TableRef root = new TableRef("public", "m");
        m.put("a", Optional.of(new TableShape(T, List.of(new ColumnShape("id", "int", true)), List.of("id"), "t_pkey", true,
                new TableShape.Partitioning(false, false, root))));
        assertEquals(List.of("table public.t is a partition of public.m on node a: add the partitioned table public.m instead"),
                ShapeCheck.problems(T, m));
        m.put("a", Optional.of(new TableShape(T, List.of(new ColumnShape("id", "int", true)), List.of("id"), "t_pkey", true,
                new TableShape.Partitioning(true, true, null))));
        assertTrue(ShapeCheck.problems(T, m).get(0).startsWith("table public.t is sub-partitioned on node a"));
    }
}
