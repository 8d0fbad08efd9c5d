package dev.ibex.conflict.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.conflict.Conflict;
import dev.ibex.conflict.ConflictResolver;
import dev.ibex.conflict.NodeId;
import dev.ibex.conflict.Resolution;
import dev.ibex.conflict.RowImage;
import dev.ibex.conflict.Side;
import dev.ibex.conflict.VersionVector;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;

class ColumnMergeResolverTest {
    static final NodeId A = new NodeId("a", 1);
    static final NodeId B = new NodeId("b", 2);
    static final NodeId C = new NodeId("c", 3);
    static final List<String> COLS = List.of("id", "name", "stock", "note");
    static final Side.Base BASE = new Side.Base(row("x", "10", "n"), VersionVector.EMPTY);

    private final ColumnMergeResolver resolver = new ColumnMergeResolver();

    static RowImage row(String name, String stock, String note) {
        return new RowImage(COLS, Arrays.asList("1", name, stock, note));
    }

    /** A side on {@code node} that made one local change at {@code stamp} since {@code base}. */
    static Side edited(NodeId node, long stamp, RowImage image, Side.Base base) {
        return new Side(node, base.version().bump(node.ordinal()), stamp, node, image, base);
    }

    /** Resolves the sides in the given order and reversed, checks both agree, returns the first. */
    static Resolution resolve(ConflictResolver resolver, Side... sides) {
        Resolution r = resolver.resolve(new Conflict("s.t", List.of("1"), List.of(sides)));
        List<Side> reversed = new ArrayList<>(List.of(sides));
        Collections.reverse(reversed);
        Resolution again = resolver.resolve(new Conflict("s.t", List.of("1"), reversed));
        assertSame(r.winner(), again.winner());
        assertEquals(r.image(), again.image());
        assertEquals(r.merged(), again.merged());
        return r;
    }

    @Test
    void namesItselfAndAsksForBases() {
        assertEquals("column-merge", resolver.name());
        assertTrue(resolver.needsBase());
    }

    @Test
    void editsToDifferentColumnsAllSurvive() {
        Side a = edited(A, 100, row("y", "10", "n"), BASE);
        Side b = edited(B, 200, row("x", "10", "m"), BASE);
        Resolution r = resolve(resolver, a, b);
        assertTrue(r.merged());
        assertSame(b, r.winner(), "the latest side is journaled as the winner");
        assertEquals(row("y", "10", "m"), r.image());
    }

    @Test
    void editsToTheSameColumnGoToTheLaterStampThenToTheAuthorNameThatSortsFirst() {
        Side a = edited(A, 300, row("from a", "10", "n"), BASE);
        Side b = edited(B, 200, row("from b", "11", "n"), BASE);
        assertEquals(row("from a", "11", "n"), resolve(resolver, a, b).image());
        Side tiedB = edited(B, 300, row("from b", "11", "n"), BASE);
        assertEquals(row("from a", "11", "n"), resolve(resolver, tiedB, a).image());
    }

    @Test
    void equalEditsAgreeWhateverTheStamps() {
        Side a = edited(A, 100, row("same", "10", "n"), BASE);
        Side b = edited(B, 200, row("same", "10", "m"), BASE);
        assertEquals(row("same", "10", "m"), resolve(resolver, a, b).image());
    }

    @Test
    void aDeleteFallsBackToTheLatestSide() {
        Side deleted = edited(A, 100, null, BASE);
        Side updated = edited(B, 200, row("y", "10", "n"), BASE);
        Resolution r = resolve(resolver, deleted, updated);
        assertFalse(r.merged());
        assertSame(updated, r.winner());
        Side laterDelete = edited(A, 300, null, BASE);
        Resolution d = resolve(resolver, laterDelete, updated);
        assertSame(laterDelete, d.winner());
        assertNull(d.image());
    }

    @Test
    void insertsOnEverySideFallBackToTheLatestSide() {
        Side.Base absent = new Side.Base(null, VersionVector.EMPTY);
        Side a = edited(A, 200, row("a", "1", "a"), absent);
        Side b = edited(B, 100, row("b", "2", "b"), absent);
        Resolution r = resolve(resolver, a, b);
        assertFalse(r.merged());
        assertSame(a, r.winner());
    }

    @Test
    void anInsertCountsAsChangingEveryColumn() {
        Side inserted = edited(A, 100, row("i", "1", "n"), new Side.Base(null, VersionVector.EMPTY));
        Side updated = edited(B, 200, row("x", "10", "m"), new Side.Base(row("x", "10", "n"), VersionVector.of(0, 0, 1)));
        Resolution r = resolve(resolver, inserted, updated);
        assertTrue(r.merged());
        assertEquals(row("i", "1", "m"), r.image(), "the insert's columns, except the one both changed (latest wins)");
    }

    @Test
    void unchangedColumnsComeFromTheBaseThatHasSeenTheMost() {
        Side a = new Side(A, VersionVector.of(0, 0, 1), 50, C, row("from c", "13", "n"));
        Side b = edited(B, 200, row("x", "12", "m"), BASE);
        Resolution r = resolve(resolver, a, b);
        assertSame(b, r.winner());
        assertEquals(row("from c", "12", "m"), r.image(), "a's row is the common base; b changed stock and note");
    }

    @Test
    void concurrentBasesGoToTheFirstInLatestOrder() {
        Side a = edited(A, 100, row("x", "11", "n"), new Side.Base(row("x", "10", "n"), VersionVector.of(0, 0, 1)));
        Side b = edited(B, 200, row("y", "10", "m"), new Side.Base(row("y", "10", "n"), VersionVector.of(0, 0, 0, 1)));
        assertEquals(row("y", "11", "m"), resolve(resolver, a, b).image(), "b is latest: its base is the common one");
    }
}
