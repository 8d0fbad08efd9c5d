package dev.ibex.conflict;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class VersionVectorTest {
    @Test
    void comparesByCausality() {
        VersionVector a = VersionVector.of(1, 0);
        VersionVector b = VersionVector.of(1, 1);
        VersionVector c = VersionVector.of(2, 0);
        assertEquals(Causality.BEFORE, a.compare(b));
        assertEquals(Causality.AFTER, b.compare(a));
        assertEquals(Causality.CONCURRENT, b.compare(c));
        assertEquals(Causality.EQUAL, a.compare(VersionVector.of(1)));
        assertEquals(Causality.BEFORE, VersionVector.EMPTY.compare(a));
    }

    @Test
    void trailingZerosDoNotMatter() {
        assertEquals(VersionVector.of(3), VersionVector.of(3, 0, 0));
        assertEquals(VersionVector.of(3).hashCode(), VersionVector.of(3, 0, 0).hashCode());
        assertEquals(VersionVector.EMPTY, VersionVector.ofBoxed(new Long[] {0L, null}));
    }

    @Test
    void bumpAndJoin() {
        VersionVector v = VersionVector.EMPTY.bump(3);
        assertEquals(VersionVector.of(0, 0, 1), v);
        assertEquals(VersionVector.of(2, 0, 1), v.join(VersionVector.of(2)));
        assertTrue(v.bump(1).dominates(v));
        assertFalse(v.dominates(v.bump(1)));
        assertThrows(IllegalArgumentException.class, () -> v.bump(0));
        assertThrows(IllegalArgumentException.class, () -> VersionVector.of(-1));
    }
}
