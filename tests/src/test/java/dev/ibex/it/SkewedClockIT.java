package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.round.RoundReport;
import dev.ibex.engine.status.NodeProbe;
import dev.ibex.engine.status.SyncStatus;
import java.time.Clock;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Node b's clock runs five minutes behind (the test-only setting {@code ibex.clock_offset}, which
 * shifts the clock capture stamps changes with). A change b makes after it received a newer-stamped
 * change from a still wins, with no conflict; each round measures b's skew, and status and node
 * check report it with a warning above the sync's bound.
 */
class SkewedClockIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b");

    @Test
    void aChangeMadeAfterSeeingANewerStampedOneWinsWithoutConflictAndTheSkewIsReported() {
        // before anything connects to b, so that every session there (capture and engine) has the offset
        CLUSTER.server("b").execute("postgres", "alter database " + CLUSTER.database("b") + " set ibex.clock_offset = '-5 min'");
        CLUSTER.execAll("create table skew (id integer primary key, v text)", "insert into skew values (1, 'init'), (2, 'init')");
        TableRef t = new TableRef("public", "skew");
        CLUSTER.addSync("skew", t);
        // the test reads the ledger entries of key 1 after the first rounds: they must not purge them
        CLUSTER.control().syncs().update(CLUSTER.control().syncs().get("skew").withLedgerRetention(java.time.Duration.ofDays(1),
                dev.ibex.engine.config.SyncSettings.DEFAULT_NODE_RETENTION));

        CLUSTER.exec("a", "update skew set v = 'a, correct clock' where id = 1");
        assertEquals(0, conflicts(CLUSTER.converge("skew")));
        CLUSTER.exec("b", "update skew set v = 'b, after seeing a, clock 5 min behind' where id = 1");
        long aStamp = stamp("a");
        long bStamp = stamp("b");
        assertTrue(bStamp < aStamp - 240_000_000L, "b's change carries a stamp minutes older than a's: " + bStamp + " vs " + aStamp);

        List<RoundReport> rounds = CLUSTER.converge("skew");
        assertEquals(0, conflicts(rounds), "a change made after seeing another is no conflict, whatever the clocks say");
        assertEquals(List.of(List.of("b, after seeing a, clock 5 min behind")), CLUSTER.rows("a", "select v from skew where id = 1"));
        assertEquals(0, CLUSTER.conflicts("skew", t).size());

        Long measured = rounds.get(0).nodes().get("b").clockSkewMillis();
        assertNotNull(measured);
        assertTrue(Math.abs(measured + 300_000) < 5_000, "the round measured b about 300 s behind: " + measured);
        assertTrue(Math.abs(rounds.get(0).nodes().get("a").clockSkewMillis()) < 5_000, "a's clock is right");

        SyncStatus status = CLUSTER.status("skew");
        SyncStatus.NodeStatus b = status.nodes().stream().filter(n -> n.node().equals("b")).findFirst().orElseThrow();
        assertTrue(Math.abs(b.clockSkewMillis() + 300_000) < 5_000, "status shows b's skew: " + b);
        assertEquals(1, status.warnings().size(), "one warning, about b: " + status.warnings());
        assertTrue(status.warnings().get(0).contains("node b") && status.warnings().get(0).contains("behind"), status.warnings().get(0));

        NodeProbe.Report check = NodeProbe.probe(CLUSTER.control().nodes().get("b"), Clock.systemUTC());
        assertTrue(Math.abs(check.clockSkewMillis() + 300_000) < 5_000, "node check shows b's skew: " + check);
    }

    private static long conflicts(List<RoundReport> rounds) {
        return rounds.stream().mapToLong(RoundReport::conflicts).sum();
    }

    private static long stamp(String node) {
        return CLUSTER.changeStamp(node, new TableRef("public", "skew"), "id = 1");
    }
}
