package dev.ibex.engine.capture;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ibex.engine.window.Snapshot;
import java.util.Set;
import org.junit.jupiter.api.Test;

class InFlightTest {
    @Test
    void afterTheCounterMovedEveryTransactionInProgressAtTheFoldIsWatched() {
        assertEquals(Set.of(5L, 8L), InFlight.next(Set.of(), true, Snapshot.parse("5:10:5,8")));
    }

    @Test
    void withoutNewCapturesOnlyTransactionsAlreadyWatchedAndStillRunningStay() {
        Snapshot fold = Snapshot.parse("5:12:5,8,11");
        assertEquals(Set.of(8L), InFlight.next(Set.of(3L, 8L), false, fold),
                "3 has ended (the fold took it), 5 and 11 captured nothing since the counter did not move");
        assertEquals(Set.of(), InFlight.next(Set.of(), false, fold), "an idle sync watches nothing, whatever runs elsewhere");
    }
}
