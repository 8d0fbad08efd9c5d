package dev.ibex.engine.round;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.conflict.LatestResolver;
import dev.ibex.conflict.NodeId;
import dev.ibex.conflict.RowImage;
import dev.ibex.conflict.Side;
import dev.ibex.conflict.VersionVector;
import dev.ibex.engine.apply.CopyRow;
import dev.ibex.engine.apply.RowChange;
import dev.ibex.engine.apply.SeenRow;
import dev.ibex.engine.window.TxId;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ChunkPlannerTest {
    private static final NodeId A = new NodeId("a", 1);
    private static final NodeId B = new NodeId("b", 2);
    private static final NodeId C = new NodeId("c", 3);
    private static final List<String> K1 = List.of("1");
    private static final List<String> K2 = List.of("2");

    private static RowImage row(String v) {
        return new RowImage(List.of("id", "v"), List.of("1", v));
    }

    /** A side as a source's stream reads it (with its row). */
    private static KeySide full(NodeId n, VersionVector v, long stamp, String value) {
        return new KeySide(n, v, stamp, n, value == null ? SeenRow.ABSENT : SeenRow.present("7" + n.ordinal()), true, true,
                value == null ? null : row(value), value == null ? null : CopyRow.of(row(value)), null);
    }

    /** A side as the versions-only read gives it. */
    private static KeySide versions(NodeId n, VersionVector v, boolean present) {
        return new KeySide(n, v, 0, null, present ? SeenRow.present("9" + n.ordinal()) : SeenRow.ABSENT, true, false, null, null, null);
    }

    private static KeySide unsettled(NodeId n, VersionVector v) {
        return new KeySide(n, v, 0, null, SeenRow.present("99"), false, false, null, null, null);
    }

    private static Map<String, List<KeySide>> sides(List<KeySide> a, List<KeySide> b, List<KeySide> c) {
        Map<String, List<KeySide>> m = new LinkedHashMap<>();
        m.put("a", a);
        m.put("b", b);
        m.put("c", c);
        return m;
    }

    @Test
    void aSourceThatHasSeenEveryOtherVersionSendsItsRowToTheNodesThatDiffer() {
        VersionVector v = VersionVector.of(2, 1);
        ChunkPlanner.Triage t = ChunkPlanner.triage(List.of(K1), sides(List.of(full(A, v, 500, "new")),
                List.of(versions(B, VersionVector.of(1, 1), true)), List.of(versions(C, v, true))), "a", Set.of(), false);
        assertEquals(List.of(), t.slow());
        assertEquals(List.of(), t.deferred());
        assertEquals(Set.of("b"), t.changes().keySet(), "c holds the source's version already");
        RowChange ch = t.changes().get("b").get(0);
        assertEquals(new RowChange(K1, CopyRow.of(row("new")), SeenRow.present("92"), VersionVector.of(1, 1), v, 500, 1), ch);
    }

    @Test
    void aSourceDeleteGoesOutAsADelete() {
        ChunkPlanner.Triage t = ChunkPlanner.triage(List.of(K1), sides(List.of(full(A, VersionVector.of(1), 9, null)),
                List.of(versions(B, VersionVector.EMPTY, true)), List.of(versions(C, VersionVector.EMPTY, false))), "a", Set.of(), false);
        assertTrue(t.changes().get("b").get(0).delete());
        assertTrue(t.changes().get("c").get(0).delete(), "c records the tombstone's version though its row is absent");
    }

    @Test
    void aKeySomeNodeChangedSinceItsFoldWaitsForTheNextRound() {
        ChunkPlanner.Triage t = ChunkPlanner.triage(List.of(K1, K2), sides(
                List.of(full(A, VersionVector.of(1), 1, "x"), full(A, VersionVector.of(1), 1, "y")),
                List.of(unsettled(B, VersionVector.EMPTY), versions(B, VersionVector.EMPTY, true)),
                List.of(versions(C, VersionVector.EMPTY, true), versions(C, VersionVector.EMPTY, true))), "a", Set.of(), false);
        assertEquals(List.of(0), t.deferred());
        assertEquals(List.of(K2), t.changes().get("b").stream().map(RowChange::key).toList());
    }

    @Test
    void aKeyDeferredForAnotherNodesChangeIsReadAgainFromItsPositionOneTheSourceChangedAgainIsNot() {
        KeySide settled = full(A, VersionVector.of(1), 1, "x");
        KeySide changedAgain = new KeySide(A, VersionVector.of(1), 1, A, SeenRow.present("71"), false, true, row("y"), CopyRow.of(row("y")), null);
        List<KeySide> source = List.of(settled, changedAgain, settled, settled);
        List<TxId> positions = List.of(new TxId(40), new TxId(10), new TxId(30), new TxId(20));
        assertNull(ChunkPlanner.rereadFrom(null, List.of(), source, positions), "nothing deferred: the watermark passes every key");
        assertNull(ChunkPlanner.rereadFrom(null, List.of(1), source, positions), "the source's next fold moves that key ahead");
        assertEquals(new TxId(30), ChunkPlanner.rereadFrom(null, List.of(0, 1, 2), source, positions),
                "the lowest position of the keys another node changed, not of the one the source changed again");
        assertEquals(new TxId(20), ChunkPlanner.rereadFrom(null, List.of(3, 2), source, positions));
        assertEquals(new TxId(15), ChunkPlanner.rereadFrom(new TxId(15), List.of(3, 2), source, positions), "an earlier chunk's lower position stays");
        assertEquals(new TxId(20), ChunkPlanner.rereadFrom(new TxId(25), List.of(3, 2), source, positions));
    }

    @Test
    void everythingElseNeedsEveryRow() {
        VersionVector a = VersionVector.of(1, 0);
        Map<String, List<KeySide>> concurrent = sides(List.of(full(A, a, 1, "x")), List.of(versions(B, VersionVector.of(0, 1), true)),
                List.of(versions(C, VersionVector.EMPTY, true)));
        assertEquals(List.of(0), ChunkPlanner.triage(List.of(K1), concurrent, "a", Set.of(), false).slow(), "concurrent versions");
        Map<String, List<KeySide>> otherWins = sides(List.of(full(A, a, 1, "x")), List.of(versions(B, VersionVector.of(1, 1), true)),
                List.of(versions(C, VersionVector.EMPTY, true)));
        assertEquals(List.of(0), ChunkPlanner.triage(List.of(K1), otherWins, "a", Set.of(), false).slow(), "another node's row wins");
        Map<String, List<KeySide>> plain = sides(List.of(full(A, a, 1, "x")), List.of(versions(B, VersionVector.EMPTY, true)),
                List.of(versions(C, VersionVector.EMPTY, true)));
        assertEquals(List.of(0), ChunkPlanner.triage(List.of(K1), plain, "a", Set.of(K1), false).slow(), "an operator's choice");
        assertEquals(List.of(0), ChunkPlanner.triage(List.of(K1), plain, "a", Set.of(), true).slow(), "the table tracks bases");
        assertTrue(ChunkPlanner.triage(List.of(K1), plain, "a", Set.of(), true).changes().isEmpty());
    }

    @Test
    void concurrentChangesAreResolvedOnceForEveryNode() {
        List<KeySide> all = List.of(full(A, VersionVector.of(1, 0), 100, "from a"), full(B, VersionVector.of(0, 1), 200, "from b"),
                full(C, VersionVector.EMPTY, 0, "old"));
        ChunkPlanner.Outcome o = ChunkPlanner.decide("t", K1, all, new LatestResolver());
        assertTrue(o.decision().conflicted());
        assertEquals(B, o.decision().winner().node());
        assertEquals(Set.of("a", "b", "c"), o.changes().keySet(), "b keeps its row but records the joined version");
        assertEquals(CopyRow.of(row("from b")), o.changes().get("b").row());
        assertEquals(CopyRow.of(row("from b")), o.changes().get("a").row());
        assertEquals(VersionVector.of(1, 1), o.changes().get("a").version());
        assertEquals(SeenRow.present("71"), o.changes().get("a").seen(), "a's row is written only if still the one read");
    }

    @Test
    void aWinnerWithAPendingBaseIsConfirmedToClearIt() {
        KeySide withBase = new KeySide(A, VersionVector.of(1), 5, A, SeenRow.present("3"), true, true, row("x"), null,
                new Side.Base(row("before"), VersionVector.EMPTY));
        ChunkPlanner.Outcome o = ChunkPlanner.decide("t", K1, List.of(withBase, full(B, VersionVector.EMPTY, 0, "before")),
                new LatestResolver());
        assertTrue(o.changes().get("a").confirm(), "a's own change won: the row goes back only to clear its base");
        assertEquals(CopyRow.of(row("x")), o.changes().get("b").row());
    }

    @Test
    void anUnsettledSideDefersTheWholeKey() {
        KeySide b = new KeySide(B, VersionVector.of(0, 1), 0, B, SeenRow.present("5"), false, true, row("y"), null, null);
        assertTrue(ChunkPlanner.decide("t", K1, List.of(full(A, VersionVector.of(1, 0), 1, "x"), b), new LatestResolver()).deferred());
    }

    @Test
    void aRepairSendsTheRepairingNodesRowToEveryNodeThatDiffersWithNoNewVersion() {
        VersionVector v = VersionVector.of(1, 1);
        Repair r = new Repair("a", v, 77);
        ChunkPlanner.Outcome o = ChunkPlanner.repair(K1, List.of(full(A, v, 5, "x"), full(B, v, 5, "changed behind"),
                full(C, v, 5, null)), r);
        assertEquals(Set.of("b", "c"), o.changes().keySet());
        assertEquals(new RowChange(K1, CopyRow.of(row("x")), SeenRow.ABSENT, v, v, 5, 1), o.changes().get("c"), "c lacks the row");
        assertEquals("repair", o.decision().strategy());
        ChunkPlanner.Outcome extra = ChunkPlanner.repair(K1, List.of(full(A, VersionVector.EMPTY, 0, null),
                full(B, VersionVector.EMPTY, 0, "extra")), new Repair("a", VersionVector.EMPTY, 77));
        assertTrue(extra.changes().get("b").delete(), "a row only b holds is deleted");
        assertEquals(77, extra.changes().get("b").stampMicros(), "a row no change touched takes the repair's time as stamp");
    }

    @Test
    void aRepairIsSupersededByAChangeMadeSinceOrNotSeenByTheRepairingNode() {
        VersionVector v = VersionVector.of(1, 1);
        Repair r = new Repair("a", v, 77);
        assertEquals(null, ChunkPlanner.repair(K1, List.of(full(A, v, 5, "x"), full(B, VersionVector.of(1, 2), 9, "later")), r),
                "b wrote again after the validation");
        assertEquals(null, ChunkPlanner.repair(K1, List.of(full(A, VersionVector.of(1, 1), 5, "x"), full(B, VersionVector.of(1, 2), 9, "y")),
                new Repair("a", VersionVector.of(1, 2), 77)), "b's change has not reached a yet");
        assertEquals(null, ChunkPlanner.repair(K1, List.of(full(A, v, 5, "x"), unsettled(B, v)), r),
                "b's change waits unfolded: made after the validation read b's ledger");
        assertTrue(ChunkPlanner.repair(K1, List.of(full(B, v, 5, "x"), full(C, v, 5, "y")), r).deferred(), "a is not in the round");
    }
}
