package dev.ibex.conflict;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class DeciderTest {
    private static final NodeId A = new NodeId("a", 1);
    private static final NodeId B = new NodeId("b", 2);
    private static final NodeId C = new NodeId("c", 3);
    private static final List<String> COLS = List.of("id", "v");

    private static Side side(NodeId n, VersionVector v, long stamp, String value) {
        return new Side(n, v, stamp, n, value == null ? null : new RowImage(COLS, List.of("1", value)));
    }

    private static Decision decide(Side... sides) {
        return Decider.decide("t", List.of("1"), List.of(sides), new LatestResolver());
    }

    @Test
    void aCausallyLaterChangeWinsWithoutConflictWhateverTheClocks() {
        Side older = side(A, VersionVector.of(1, 0), 5_000, "from a");
        Side later = side(B, VersionVector.of(1, 1), 1_000, "b after seeing a");
        Decision d = decide(older, later);
        assertFalse(d.conflicted());
        assertEquals("b after seeing a", d.image().get("v"));
        assertEquals(VersionVector.of(1, 1), d.version());
        assertEquals(List.of(older), d.stale(List.of(older, later)));
    }

    @Test
    void concurrentChangesGoToTheLatestStampAndAreReported() {
        Side a = side(A, VersionVector.of(1, 0), 2_000, "a");
        Side b = side(B, VersionVector.of(0, 1), 3_000, "b");
        Decision d = decide(a, b);
        assertTrue(d.conflicted());
        assertEquals("b", d.image().get("v"));
        assertEquals(VersionVector.of(1, 1), d.version());
        assertEquals("latest", d.strategy());
        assertEquals(2, d.conflict().sides().size());
        assertEquals(2, d.stale(List.of(a, b)).size(), "both nodes record the joined version");
    }

    @Test
    void equalStampsGoToTheNodeNameThatSortsFirst() {
        Decision d = decide(side(B, VersionVector.of(0, 1), 7, "b"), side(A, VersionVector.of(1, 0), 7, "a"));
        assertEquals("a", d.image().get("v"));
    }

    @Test
    void aDeleteCanWinAndLeavesAnAbsentImage() {
        Side del = side(A, VersionVector.of(2, 0), 9_000, null);
        Side upd = side(B, VersionVector.of(1, 1), 8_000, "b");
        Decision d = decide(del, upd);
        assertTrue(d.conflicted());
        assertNull(d.image());
        assertEquals(List.of(upd), d.stale(List.of(del, upd)).stream().filter(s -> s.image() != null).toList());
    }

    @Test
    void nodesThatNeverSawTheRowAreBehindEveryChange() {
        Side a = side(A, VersionVector.of(1), 1, "a");
        Side b = side(B, VersionVector.EMPTY, 0, null);
        Side c = side(C, VersionVector.EMPTY, 0, null);
        Decision d = decide(a, b, c);
        assertFalse(d.conflicted());
        assertEquals(List.of(b, c), d.stale(List.of(a, b, c)));
    }

    @Test
    void priorityPicksTheListedNodeFirst() {
        Side a = side(A, VersionVector.of(1, 0), 9_000, "a");
        Side b = side(B, VersionVector.of(0, 1), 1_000, "b");
        Decision d = Decider.decide("t", List.of("1"), List.of(a, b), new SourcePriorityResolver(List.of("b", "a")));
        assertEquals("b", d.image().get("v"));
        assertEquals("priority", d.strategy());
    }

    /** Property: random sets of versions, sides in every order, always the same decision. */
    @Test
    void theDecisionDoesNotDependOnTheOrderOfSides() {
        Random r = new Random(42);
        NodeId[] nodes = {A, B, C, new NodeId("d", 4), new NodeId("e", 5)};
        for (int round = 0; round < 2_000; round++) {
            List<Side> sides = new ArrayList<>();
            int n = 2 + r.nextInt(4);
            for (int i = 0; i < n; i++) {
                long[] c = new long[5];
                for (int j = 0; j < 5; j++) {
                    c[j] = r.nextInt(3);
                }
                VersionVector v = VersionVector.of(c);
                sides.add(side(nodes[i], v, r.nextInt(4), r.nextInt(5) == 0 ? null : "v" + v));
            }
            for (ConflictResolver resolver : List.of(new LatestResolver(), new SourcePriorityResolver(List.of("c", "a")))) {
                Decision first = Decider.decide("t", List.of("1"), sides, resolver);
                for (int k = 0; k < 5; k++) {
                    List<Side> shuffled = new ArrayList<>(sides);
                    Collections.shuffle(shuffled, r);
                    Decision again = Decider.decide("t", List.of("1"), shuffled, resolver);
                    assertEquals(first.version(), again.version());
                    assertEquals(first.image(), again.image());
                    assertEquals(first.conflicted(), again.conflicted());
                    assertEquals(first.winner().version(), again.winner().version());
                }
                for (Side s : sides) {
                    assertTrue(first.version().dominates(s.version()), "the decided version has seen every side");
                }
            }
        }
    }
}
