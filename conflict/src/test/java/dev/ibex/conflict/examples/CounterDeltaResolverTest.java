package dev.ibex.conflict.examples;

import static dev.ibex.conflict.examples.ColumnMergeResolverTest.A;
import static dev.ibex.conflict.examples.ColumnMergeResolverTest.B;
import static dev.ibex.conflict.examples.ColumnMergeResolverTest.BASE;
import static dev.ibex.conflict.examples.ColumnMergeResolverTest.C;
import static dev.ibex.conflict.examples.ColumnMergeResolverTest.edited;
import static dev.ibex.conflict.examples.ColumnMergeResolverTest.resolve;
import static dev.ibex.conflict.examples.ColumnMergeResolverTest.row;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.conflict.Resolution;
import dev.ibex.conflict.RowImage;
import dev.ibex.conflict.Side;
import dev.ibex.conflict.VersionVector;
import java.util.List;
import org.junit.jupiter.api.Test;

class CounterDeltaResolverTest {
    private final CounterDeltaResolver stock = new CounterDeltaResolver("stock");

    private static Side.Base base(String stock) {
        return new Side.Base(row("x", stock, "n"), VersionVector.EMPTY);
    }

    @Test
    void namesItselfAsksForBasesAndRefusesAnEmptyList() {
        assertEquals("counter-delta", stock.name());
        assertTrue(stock.needsBase());
        assertThrows(IllegalArgumentException.class, () -> new CounterDeltaResolver(null));
        assertThrows(IllegalArgumentException.class, () -> new CounterDeltaResolver(" "));
        assertThrows(IllegalArgumentException.class, () -> new CounterDeltaResolver("stock,,sold"));
        assertThrows(IllegalArgumentException.class, () -> new CounterDeltaResolver("stock, stock"));
        assertEquals("counter-delta", new CounterDeltaResolver(" stock , sold ").name());
    }

    @Test
    void concurrentIncrementsAddUp() {
        Side a = edited(A, 100, row("x", "11", "n"), BASE);
        Side b = edited(B, 200, row("x", "12", "n"), BASE);
        Resolution r = resolve(stock, a, b);
        assertTrue(r.merged());
        assertSame(b, r.winner());
        assertEquals("13", r.image().get("stock"));
    }

    @Test
    void theCommonBaseIsTheOneThatHasSeenTheMost() {
        Side a = new Side(A, VersionVector.of(0, 0, 1), 50, C, row("x", "13", "n"));
        Side b = edited(B, 200, row("x", "12", "n"), BASE);
        assertEquals(VersionVector.of(0, 0, 1), a.baseVersion());
        assertEquals("15", resolve(stock, a, b).image().get("stock"), "13 from c's change, + 0 from a, + 2 from b");
    }

    @Test
    void otherColumnsMergeColumnByColumn() {
        Side a = edited(A, 100, row("renamed", "9", "n"), BASE);
        Side b = edited(B, 200, row("x", "7", "noted"), BASE);
        assertEquals(row("renamed", "6", "noted"), resolve(stock, a, b).image(), "10 - 1 - 3 = 6");
    }

    @Test
    void decimalsKeepTheirScale() {
        Side a = edited(A, 100, row("x", "3.50", "n"), base("2.50"));
        Side b = edited(B, 200, row("x", "4", "n"), base("2.50"));
        assertEquals("5.00", resolve(stock, a, b).image().get("stock"), "2.50 + 1.00 + 1.50");
        Side c = edited(C, 300, row("x", "-0.125", "n"), base("0"));
        Side d = edited(B, 200, row("x", "1", "n"), base("0"));
        assertEquals("0.875", resolve(stock, c, d).image().get("stock"));
    }

    @Test
    void nullCountsAsZeroUnlessEveryValueIsNull() {
        Side a = edited(A, 100, row("x", "5", "n"), base(null));
        Side b = edited(B, 200, row("x", "3", "n"), base(null));
        assertEquals("8", resolve(stock, a, b).image().get("stock"));
        Side cleared = edited(A, 100, row("x", null, "n"), base("10"));
        Side added = edited(B, 200, row("x", "12", "n"), base("10"));
        assertEquals("2", resolve(stock, cleared, added).image().get("stock"), "10 - 10 + 2");
        Side renamed = edited(A, 100, row("y", null, "n"), base(null));
        Side noted = edited(B, 200, row("x", null, "m"), base(null));
        assertNull(resolve(stock, renamed, noted).image().get("stock"));
    }

    @Test
    void aDeleteOrAnInsertFallsBackToTheLatestSide() {
        Side updated = edited(A, 100, row("x", "11", "n"), BASE);
        Side deleted = edited(B, 200, null, BASE);
        Resolution r = resolve(stock, updated, deleted);
        assertFalse(r.merged());
        assertSame(deleted, r.winner());
        Side inserted = edited(B, 50, row("x", "5", "n"), new Side.Base(null, VersionVector.EMPTY));
        Resolution i = resolve(stock, updated, inserted);
        assertFalse(i.merged());
        assertSame(updated, i.winner());
    }

    @Test
    void aMissingOrNonNumericCounterIsLeftToTheColumnMerge() {
        CounterDeltaResolver missing = new CounterDeltaResolver("stock,sold");
        Side a = edited(A, 100, row("x", "11", "n"), BASE);
        Side b = edited(B, 200, row("x", "12", "n"), BASE);
        assertEquals(row("x", "13", "n"), resolve(missing, a, b).image());
        Side nan = edited(A, 100, row("x", "NaN", "n"), BASE);
        assertEquals("12", resolve(stock, nan, b).image().get("stock"), "both changed it: the latest value");
        RowImage narrow = new RowImage(List.of("id", "name", "note"), List.of("1", "x", "n"));
        Side old = edited(A, 300, narrow.with("name", "y"), new Side.Base(narrow, VersionVector.EMPTY));
        assertEquals(List.of("1", "y", "n"), resolve(stock, old, b).image().values(), "the latest side's columns");
    }
}
