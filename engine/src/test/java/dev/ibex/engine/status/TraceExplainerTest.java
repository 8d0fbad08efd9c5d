package dev.ibex.engine.status;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ibex.engine.journal.ConflictEntry;
import dev.ibex.engine.journal.ConflictState;
import dev.ibex.engine.status.RowTrace.Ledger;
import dev.ibex.engine.status.RowTrace.NodeTrace;
import dev.ibex.engine.status.RowTrace.Pending;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

class TraceExplainerTest {
    private static final String T0 = "2026-12-07T05:00:00Z";
    private static final String T1 = "2026-12-07T05:00:01Z";
    private static final Map<String, String> ROW_A = Map.of("id", "1", "v", "from a");
    private static final Map<String, String> ROW_B = Map.of("id", "1", "v", "from b");
    private static final Ledger AB = ledger(Map.of("a", 1L, "b", 1L), List.of(1L, 1L), "b", T1, "7");

    private static Ledger ledger(Map<String, Long> version, List<Long> vector, String origin, String at, String txid) {
        return new Ledger(new TreeMap<>(version), vector, origin, at, txid);
    }

    private static NodeTrace node(String name, Map<String, String> row, Ledger ledger, Pending pending) {
        String state = row != null ? RowTrace.PRESENT : ledger != null ? RowTrace.DELETED : RowTrace.ABSENT;
        return new NodeTrace(name, true, null, state, row, ledger, pending);
    }

    private static NodeTrace node(String name, Map<String, String> row, Ledger ledger) {
        return node(name, row, ledger, Pending.NONE);
    }

    private static NodeTrace unreachable(String name) {
        return new NodeTrace(name, false, "node " + name + ": connection refused", RowTrace.UNKNOWN, null, null, Pending.NONE);
    }

    private static List<String> why(List<NodeTrace> nodes, ConflictEntry... conflicts) {
        return TraceExplainer.explain("s", "public.t", nodes, List.of(conflicts));
    }

    private static ConflictEntry conflict(ConflictState status, String strategy, String winner, String winnerAt, String loserAt) {
        List<ConflictEntry.SideEntry> sides = List.of(new ConflictEntry.SideEntry("a", "a", List.of(1L, 0L), loserAt, ROW_A),
                new ConflictEntry.SideEntry("b", "b", List.of(0L, 1L), winnerAt, ROW_B));
        return new ConflictEntry(12, "s", "public", "t", List.of("1"), strategy, winner, sides, OffsetDateTime.parse("2026-12-07T05:00:02Z"),
                status, null, null);
    }

    @Test
    void nodesThatAgreeAreExplainedByTheirVersionAndTheChangeThatMadeIt() {
        assertEquals(List.of("all nodes hold version {a:1, b:1}: the row as written on b at " + T1),
                why(List.of(node("a", ROW_B, AB), node("b", ROW_B, AB))));
        Ledger deleted = ledger(Map.of("a", 1L), List.of(1L), "a", T0, "5");
        assertEquals(List.of("all nodes hold version {a:1}: the row as deleted on a at " + T0
                        + " (the tombstone keeps a late change from bringing it back)"),
                why(List.of(node("a", null, deleted), node("b", null, deleted))));
        assertEquals(List.of("no node holds this row and no change to it is on record"), why(List.of(node("a", null, null), node("b", null, null))));
    }

    @Test
    void aDecidedConflictSaysWhyTheWinnerWon() {
        assertEquals(List.of("conflict #12 at 2026-12-07T05:00:02Z decided by latest: b's change (" + T1 + ") is newer than a's change (" + T0 + ")",
                        "all nodes hold version {a:1, b:1}: the row as written on b at " + T1),
                why(List.of(node("a", ROW_B, AB), node("b", ROW_B, AB)), conflict(ConflictState.DECIDED, "latest", "b", T1, T0)));
        assertEquals("conflict #12 at 2026-12-07T05:00:02Z decided by latest: b's change (" + T0 + ") has the same change time as a's change ("
                        + T0 + ") and b sorts first by name",
                why(List.of(node("a", ROW_B, AB)), conflict(ConflictState.DECIDED, "latest", "b", T0, T0)).get(0));
    }

    @Test
    void aHeldConflictLeavesEachNodeItsRow() {
        List<String> why = why(List.of(node("a", ROW_A, ledger(Map.of("a", 1L), List.of(1L), "a", T0, "5")),
                node("b", ROW_B, ledger(Map.of("b", 1L), List.of(0L, 1L), "b", T1, "6"))), conflict(ConflictState.OPEN, "manual", null, T1, T0));
        assertEquals(List.of("conflict #12 at 2026-12-07T05:00:02Z is held for an operator (manual): each node keeps its own row until "
                + "'ibex conflicts resolve 12 --take NODE'"), why);
    }

    @Test
    void pendingChangesExplainADifference() {
        Pending unfolded = new Pending(1, T1, List.of(), List.of());
        assertEquals(List.of("b has 1 change(s) to this row that no round has taken yet (the newest at " + T1 + "): pending on b, the next round decides it",
                        "the nodes differ until a round reconciles the pending change(s) above"),
                why(List.of(node("a", ROW_A, null), node("b", ROW_B, null, unfolded))));
        Ledger a2 = ledger(Map.of("a", 2L), List.of(2L), "a", T1, "9");
        Pending notOnB = new Pending(0, null, List.of("b"), List.of());
        assertEquals(List.of("a's change (version {a:2}, at " + T1 + ") is not applied on b yet: pending on a, the next round brings it",
                        "the nodes differ until a round reconciles the pending change(s) above"),
                why(List.of(node("a", ROW_A, a2, notOnB), node("b", ROW_B, ledger(Map.of("a", 1L), List.of(1L), "a", T0, "5")))));
    }

    @Test
    void aDifferenceNothingExplainsSendsToValidate() {
        assertEquals(List.of("the rows differ while no change is pending: run 'ibex validate s --table public.t' (and see 'ibex status s')"),
                why(List.of(node("a", ROW_A, ledger(Map.of("a", 1L), List.of(1L), "a", T0, "5")), node("b", ROW_B, AB))));
        assertEquals(List.of("the nodes hold the same version but different rows: the row was changed where capture does not see it: "
                        + "run 'ibex validate s --table public.t' (and see 'ibex status s')"),
                why(List.of(node("a", ROW_A, AB), node("b", ROW_B, AB))));
    }

    @Test
    void anUnreachableNodeIsUnknownAndTheOthersAreStillExplained() {
        assertEquals(List.of("node c is unreachable: its row is unknown (node c: connection refused)",
                        "the nodes that could be read hold version {a:1, b:1}: the row as written on b at " + T1),
                why(List.of(node("a", ROW_B, AB), node("b", ROW_B, AB), unreachable("c"))));
        assertEquals(List.of("node a is unreachable: its row is unknown (node a: connection refused)"), why(List.of(unreachable("a"))));
    }
}
