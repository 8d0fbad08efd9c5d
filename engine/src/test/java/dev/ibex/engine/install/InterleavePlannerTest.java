package dev.ibex.engine.install;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class InterleavePlannerTest {

    @Test
    void defaultStepLeavesRoomForMoreNodes() {
        assertEquals(100, InterleavePlanner.defaultStep(2));
        assertEquals(100, InterleavePlanner.defaultStep(10));
        assertEquals(1000, InterleavePlanner.defaultStep(11));
        assertEquals(1000, InterleavePlanner.defaultStep(100));
        assertEquals(10000, InterleavePlanner.defaultStep(101));
    }

    @Test
    void startIsTheFirstValueOfTheClassAboveTheHighest() {
        assertEquals(101, InterleavePlanner.startAbove(100, 1, 100));
        assertEquals(102, InterleavePlanner.startAbove(100, 2, 100));
        assertEquals(200, InterleavePlanner.startAbove(100, 0, 100));
        assertEquals(201, InterleavePlanner.startAbove(101, 1, 100));
        assertEquals(3, InterleavePlanner.startAbove(0, 3, 100));
    }

    @Test
    void everyNodeDrawsFromItsOwnClassAboveTheHighest() {
        Random random = new Random(14);
        for (int round = 0; round < 1000; round++) {
            int nodes = 2 + random.nextInt(11);
            long step = nodes + random.nextInt(200);
            long high = random.nextInt(1_000_000) - 1000;
            Set<Long> drawn = new HashSet<>();
            for (int ordinal = 1; ordinal <= nodes; ordinal++) {
                long residue = InterleavePlanner.residue(ordinal, step);
                long start = InterleavePlanner.startAbove(high, residue, step);
                assertTrue(start > high && start <= high + step, "start " + start + " above " + high + " within one step " + step);
                assertTrue(InterleavePlanner.inClass(start, step, residue, step));
                for (long v = start; v < start + 20 * step; v += step) {
                    assertTrue(drawn.add(v), "value " + v + " drawn twice with " + nodes + " nodes and step " + step);
                }
            }
        }
    }

    @Test
    void aSequenceIsInItsClassOnlyWithTheStepAsIncrement() {
        assertTrue(InterleavePlanner.inClass(302, 100, 2, 100));
        assertFalse(InterleavePlanner.inClass(302, 1, 2, 100));
        assertFalse(InterleavePlanner.inClass(303, 100, 2, 100));
        assertTrue(InterleavePlanner.inClass(400, 100, InterleavePlanner.residue(100, 100), 100));
    }
}
