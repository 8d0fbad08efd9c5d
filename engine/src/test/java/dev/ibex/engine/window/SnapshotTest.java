package dev.ibex.engine.window;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class SnapshotTest {
    @Test
    void parsesAndPrintsPostgresTextForm() {
        Snapshot s = Snapshot.parse("100:110:103,101");
        assertEquals(100, s.xmin());
        assertEquals(110, s.xmax());
        assertEquals(List.of(101L, 103L), s.inProgress(), "in-progress transactions, sorted");
        assertEquals("100:110:101,103", s.toString());
        assertEquals(s, Snapshot.parse(s.toString()));
        assertEquals(Snapshot.parse("7:7:"), new Snapshot(7, 7, new long[0]));
    }

    @Test
    void aTransactionIsVisibleWhenBelowXmaxAndNotInProgress() {
        Snapshot s = Snapshot.parse("100:110:103");
        assertTrue(s.visible(99));
        assertTrue(s.visible(102));
        assertFalse(s.visible(103), "in progress when taken");
        assertTrue(s.visible(109));
        assertFalse(s.visible(110), "xmax itself had not started");
        assertFalse(s.visible(500));
    }

    @Test
    void givesItsBoundsAsThirtyTwoBitXids() {
        long epoch = 3L << 32;
        Snapshot s = new Snapshot(epoch + 5, epoch + 9, new long[] {epoch + 6});
        assertEquals(9, s.xmax32());
        assertArrayEquals(new String[] {"6"}, s.xip32());
    }

    @Test
    void noneSeesNothing() {
        assertFalse(Snapshot.NONE.visible(1));
        assertEquals(Snapshot.NONE, Snapshot.parse(null));
    }

    @Test
    void refusesWhatIsNotASnapshot() {
        assertThrows(IllegalArgumentException.class, () -> Snapshot.parse("12:13"));
        assertThrows(IllegalArgumentException.class, () -> Snapshot.parse("13:12:"));
    }
}
