package dev.ibex.conflict;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ManualResolverTest {
    private static final NodeId A = new NodeId("a", 1);
    private static final NodeId B = new NodeId("b", 2);
    private static final List<String> COLS = List.of("id", "v");
    private static final ManualResolver NO_CHOICE = new ManualResolver((table, key) -> null);

    private static RowImage row(String v) {
        return new RowImage(COLS, List.of("1", v));
    }

    private static Side side(NodeId n, VersionVector v, long stamp, RowImage image) {
        return new Side(n, v, stamp, n, image);
    }

    private static Resolution resolve(ManualResolver resolver, Side... sides) {
        return resolver.resolve(new Conflict("s.t", List.of("1"), List.of(sides)));
    }

    private static ManualResolver choosing(RowImage row, VersionVector covers) {
        return new ManualResolver((table, key) -> "s.t".equals(table) && List.of("1").equals(key)
                ? new ManualResolver.Choice(row, covers) : null);
    }

    @Test
    void equalConcurrentChangesAreTakenWithoutAnOperator() {
        Side a = side(A, VersionVector.of(1, 0), 100, row("same"));
        Side b = side(B, VersionVector.of(0, 1), 200, row("same"));
        Resolution r = resolve(NO_CHOICE, a, b);
        assertFalse(r.held() || r.merged());
        assertSame(b, r.winner());
        Resolution deletes = resolve(NO_CHOICE, side(A, VersionVector.of(1, 0), 100, null), side(B, VersionVector.of(0, 1), 200, null));
        assertFalse(deletes.held());
        assertNull(deletes.image());
    }

    @Test
    void differentConcurrentChangesAreHeldAndNothingIsWritten() {
        Side a = side(A, VersionVector.of(1, 0), 100, row("a"));
        Side b = side(B, VersionVector.of(0, 1), 200, null);
        assertTrue(resolve(NO_CHOICE, a, b).held());
        Decision d = Decider.decide("s.t", List.of("1"), List.of(a, b), NO_CHOICE);
        assertTrue(d.held() && d.conflicted());
        assertEquals(List.of(), d.stale(List.of(a, b)));
        ManualResolver forAnotherKey = choosing(row("x"), VersionVector.of(5, 5));
        assertTrue(forAnotherKey.resolve(new Conflict("s.t", List.of("2"), List.of(a, b))).held());
    }

    @Test
    void aChoiceThatCoversEverySideGoesEverywhere() {
        Side a = side(A, VersionVector.of(1, 0), 100, row("a"));
        Side b = side(B, VersionVector.of(0, 1), 200, row("b"));
        Resolution r = resolve(choosing(row("chosen"), VersionVector.of(1, 1)), a, b);
        assertTrue(r.merged());
        assertFalse(r.held());
        assertEquals(row("chosen"), r.image());
        Decision d = Decider.decide("s.t", List.of("1"), List.of(a, b), choosing(row("chosen"), VersionVector.of(1, 1)));
        assertEquals(List.of(a, b), d.stale(List.of(a, b)));
        assertEquals(VersionVector.of(1, 1), d.version());
    }

    @Test
    void aChoiceCanDeleteTheRow() {
        Side a = side(A, VersionVector.of(1, 0), 100, row("a"));
        Side b = side(B, VersionVector.of(0, 1), 200, row("b"));
        Resolution r = resolve(choosing(null, VersionVector.of(1, 1)), a, b);
        assertTrue(r.merged());
        assertNull(r.image());
    }

    @Test
    void aSideThatChangedAgainSinceTheChoiceIsHeldAgain() {
        Side a = side(A, VersionVector.of(2, 0), 300, row("a again"));
        Side b = side(B, VersionVector.of(0, 1), 200, row("b"));
        Resolution r = resolve(choosing(row("chosen"), VersionVector.of(1, 1)), a, b);
        assertTrue(r.held());
        assertFalse(r.merged());
    }
}
