package dev.ibex.engine.install;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.UsageException;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.install.SchemaChangePlanner.Column;
import dev.ibex.engine.install.SchemaChangePlanner.DryRun;
import dev.ibex.engine.install.SchemaChangePlanner.SchemaChangePlan;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SchemaChangePlannerTest {
    private static final TableRef T = new TableRef("public", "t");
    private static final TableRef OTHER = new TableRef("public", "other");
    private static final TableRef NEW = new TableRef("app", "new");
    private static final List<Column> SHAPE = List.of(new Column(1, "id", "bigint", true, 1), new Column(2, "v", "text", false, 0));
    private static final List<Column> OTHER_SHAPE = List.of(new Column(1, "k", "integer", true, 1));

    @Test
    void aChangedColumnPausesItsTableOnly() {
        for (List<Column> after : List.of(
                with(SHAPE, new Column(3, "w", "integer", false, 0)),
                List.of(SHAPE.get(0), new Column(2, "v2", "text", false, 0)),
                List.of(SHAPE.get(0), new Column(2, "v", "integer", false, 0)),
                List.of(SHAPE.get(0)))) {
            SchemaChangePlan plan = plan(before(), Map.of(T, after, OTHER, OTHER_SHAPE), List.of(), List.of());
            assertEquals(List.of(T), plan.changed(), after::toString);
            assertEquals(List.of(), plan.created());
        }
    }

    @Test
    void aScriptThatChangesNoColumnPausesNothing() {
        SchemaChangePlan plan = plan(before(), before(), List.of(), List.of());
        assertEquals(List.of(), plan.changed());
        assertEquals(List.of(), plan.created());
    }

    @Test
    void aCreatedTableWithAKeyJoinsTheSyncAndOneWithoutIsRefused() {
        Map<TableRef, List<Column>> after = new LinkedHashMap<>(before());
        after.put(NEW, List.of(new Column(1, "id", "uuid", true, 1)));
        assertEquals(List.of(NEW), plan(before(), after, List.of(), List.of()).created());
        after.put(NEW, List.of(new Column(1, "id", "uuid", false, 0)));
        assertRefused("no primary key", before(), after, List.of(), List.of());
    }

    @Test
    void keyChangesAreRefused() {
        assertRefused("drops key column id", before(), Map.of(T, List.of(SHAPE.get(1)), OTHER, OTHER_SHAPE), List.of(), List.of());
        assertRefused("changes the type of key column id", before(), Map.of(T, List.of(new Column(1, "id", "integer", true, 1),
                SHAPE.get(1)), OTHER, OTHER_SHAPE), List.of(), List.of());
        assertRefused("renames key column id", before(), Map.of(T, List.of(new Column(1, "key", "bigint", true, 1), SHAPE.get(1)),
                OTHER, OTHER_SHAPE), List.of(), List.of());
        assertRefused("changes the key", before(), Map.of(T, List.of(SHAPE.get(0), new Column(2, "v", "text", true, 2)),
                OTHER, OTHER_SHAPE), List.of(), List.of());
    }

    @Test
    void droppedTablesRowChangesAndMutableDefaultsAreRefused() {
        assertRefused("ibex table remove s public.other", before(), Map.of(T, SHAPE), List.of(), List.of());
        assertRefused("changes rows", before(), before(), List.of("public.t"), List.of());
        assertRefused("not immutable", before(), Map.of(T, with(SHAPE, new Column(3, "at", "timestamp with time zone", false, 0)),
                OTHER, OTHER_SHAPE), List.of(), List.of("public.t.at (default now())"));
    }

    @Test
    void aRefusalThatOnlyCaptureTriggersCausedIsReportedWhenTheKeyStaysTheSame() {
        UsageException e = assertThrows(UsageException.class, () -> SchemaChangePlanner.plan("s", Set.of(T, OTHER),
                new DryRun(before(), before(), List.of(), List.of(), "node a refused the script in a dry run: ERROR: x")));
        assertTrue(e.getMessage().startsWith("node a refused the script in a dry run: ERROR: x"), e.getMessage());
    }

    private static Map<TableRef, List<Column>> before() {
        Map<TableRef, List<Column>> m = new LinkedHashMap<>();
        m.put(T, SHAPE);
        m.put(OTHER, OTHER_SHAPE);
        return m;
    }

    private static List<Column> with(List<Column> columns, Column more) {
        List<Column> out = new ArrayList<>(columns);
        out.add(more);
        return out;
    }

    private static SchemaChangePlan plan(Map<TableRef, List<Column>> before, Map<TableRef, List<Column>> after, List<String> rows,
                                         List<String> mutable) {
        return SchemaChangePlanner.plan("s", Set.of(T, OTHER), new DryRun(before, after, rows, mutable, null));
    }

    private static void assertRefused(String what, Map<TableRef, List<Column>> before, Map<TableRef, List<Column>> after,
                                      List<String> rows, List<String> mutable) {
        UsageException e = assertThrows(UsageException.class, () -> plan(before, after, rows, mutable));
        assertTrue(e.getMessage().contains(what), e.getMessage());
    }
}
