package dev.ibex.engine.capture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.window.Snapshot;
import java.util.Set;
import org.junit.jupiter.api.Test;

class InFlightTest {
    @Test
    void afterTheCounterMovedEveryTransactionRunningAtTheFoldIsWatched() {
        // 5 and 8 listed in progress; 10 and 11 were assigned (next = 12) but are above xmax, the newest completed + 1
        InFlight w = InFlight.NONE.next(true, Snapshot.parse("5:10:5,8"), 12);
        assertEquals(new InFlight(Set.of(5L, 8L), 10, 12), w);
    }

    @Test
    void aRunningTransactionAboveXmaxIsWatchedUntilItEnds() {
        // a single writer: its xid 100 is the newest assigned, so the fold's snapshot is 100:100: with nothing listed
        InFlight w = InFlight.NONE.next(true, Snapshot.parse("100:100:"), 101);
        assertFalse(w.isEmpty(), "transaction 100 may have captured before the fold");
        assertEquals(w, w.runningAt(Snapshot.parse("100:100:")), "still running: nothing ended");
        assertTrue(w.runningAt(Snapshot.parse("101:101:")).isEmpty(), "100 completed");
        assertEquals(new InFlight(Set.of(100L), 0, 0), w.runningAt(Snapshot.parse("100:102:100")), "101 ended, 100 runs");
    }

    @Test
    void withoutNewCapturesOnlyTransactionsAlreadyWatchedAndStillRunningStay() {
        Snapshot fold = Snapshot.parse("5:12:5,8,11");
        InFlight before = new InFlight(Set.of(3L, 8L), 0, 0);
        assertEquals(new InFlight(Set.of(8L), 0, 0), before.next(false, fold, 15),
                "3 has ended (the fold took it), 5 and 11 captured nothing since the counter did not move");
        assertTrue(InFlight.NONE.next(false, fold, 15).isEmpty(), "an idle sync watches nothing, whatever runs elsewhere");
    }
}
