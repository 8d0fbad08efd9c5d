package dev.ibex.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.config.TableRef;
import dev.ibex.it.Cluster;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * SIGTERM in the middle of a long round: {@code ibex start} is replicating a 200 000-row backlog
 * (200 chunks) from a to b and c when it is told to stop. It must exit within 30 s, say what
 * became of the round (cut short at a chunk boundary, or finished), and leave no target with part
 * of a chunk: every chunk of 1 000 rows is on a target whole or not at all, and a cut-short round
 * advanced no watermark. The next engine then converges with nothing lost or applied twice.
 */
class GracefulStopIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b", "c");
    private static final int ROWS = 200_000;
    private static final String FROM_A = "select count(*) from backlog where note = 'a' and balance = id";

    @Test
    void sigtermMidRoundStopsAtAChunkBoundaryWithinBoundedTime() {
        TableRef table = TableRef.parse("backlog");
        // keys of one length, so that the rounds' text order of keys is their numeric order
        CLUSTER.execAll("create table backlog (id bigint primary key, balance bigint not null, note text not null)",
                "insert into backlog select g, 0, 'init' from generate_series(1000001, " + (1_000_000 + ROWS) + ") g");
        CLUSTER.addSync("backlog", table);
        CLUSTER.exec("a", "update backlog set balance = balance + id, note = 'a'");

        long stopMillis;
        String output;
        try (EngineProcess engine = EngineProcess.start(CLUSTER.controlUrl())) {
            engine.awaitOutput("ibex engine running", Duration.ofSeconds(60));
            dev.ibex.testkit.Await.until("c holds part of the backlog", Duration.ofSeconds(60),
                    () -> CLUSTER.count("c", FROM_A) > 0);
            long signalled = System.nanoTime();
            engine.terminate();
            assertTrue(engine.waitFor(Duration.ofSeconds(30)), "ibex start exits within 30 s of SIGTERM:\n" + engine.output());
            stopMillis = (System.nanoTime() - signalled) / 1_000_000;
            output = engine.output();
            assertEquals(143, engine.exitValue(), output);
        }
        long onB = CLUSTER.count("b", FROM_A);
        long onC = CLUSTER.count("c", FROM_A);
        System.out.printf("GracefulStopIT: stopped %d ms after SIGTERM with %d rows on b and %d on c; output:%n%s%n",
                stopMillis, onB, onC, output);
        assertTrue(output.contains("ibex engine stopping"), output);
        assertTrue(output.contains("ibex engine stopped"), output);
        boolean cut = output.contains("cut short at a chunk boundary");
        assertTrue(cut || output.contains("the round in flight finished"), "the log says what became of the round:\n" + output);
        assertEquals(0, onB % 1000, "b holds whole chunks only: " + onB);
        assertEquals(0, onC % 1000, "c holds whole chunks only: " + onC);
        if (cut) {
            assertTrue(onC < ROWS, "a cut-short round left part of the backlog: " + onC);
            for (String node : List.of("b", "c")) {
                assertEquals(0, CLUSTER.count(node, "select count(*) from ibex.watermark where ledger_name = ?", table.ledgerName()),
                        "a cut-short round advances no watermark on " + node);
            }
        }

        CLUSTER.converge("backlog");
        for (String node : CLUSTER.nodes()) {
            assertEquals(ROWS, CLUSTER.count(node, "select count(*) from backlog"), "rows on " + node);
            assertEquals(ROWS, CLUSTER.count(node, FROM_A), "rows as a wrote them on " + node);
        }
        assertEquals(List.of(), CLUSTER.conflicts("backlog", table), "a stop creates no conflict");
    }
}
