package dev.ibex.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.config.TableRef;
import dev.ibex.it.Cluster;
import dev.ibex.testkit.Await;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * SIGTERM in the middle of a long round: {@code ibex start} is replicating a 40 000-row backlog
 * (10 chunks) from a to b and c when it is told to stop. It must exit within 30 s, say what
 * became of the round (cut short at a chunk boundary, or finished), and leave no target with part
 * of a chunk: every chunk (up to 10 000 rows) is on a target whole or not at all, and a cut-short round
 * advanced no watermark. The next engine then converges with nothing lost or applied twice. With a
 * node black-holed (its proxy stalls) the round cannot reach a chunk boundary: the engine abandons
 * it after {@code Engine.STOP_TIMEOUT} and still exits within 30 s.
 */
class GracefulStopIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b", "c").withProxies();
    private static final int ROWS = 15_000;
    private static final String FROM_A = "select count(*) from %s where note = 'a' and balance = id";

    @Test
    void sigtermMidRoundStopsAtAChunkBoundaryWithinBoundedTime() {
        TableRef table = backlog("backlog", ROWS);
        String output = stopMidRound(table, null);
        boolean cut = output.contains("cut short at a chunk boundary");
        assertTrue(cut || output.contains("the round in flight finished"), "the log says what became of the round:\n" + output);
        if (cut) {
            assertTrue(count("c", table) < ROWS, "a cut-short round left part of the backlog");
            for (String node : List.of("b", "c")) {
                assertEquals(0, CLUSTER.count(node, "select count(*) from ibex.watermark where ledger_name = ?", table.ledgerName()),
                        "a cut-short round advances no watermark on " + node);
            }
        }
        convergeAndCheck(table, ROWS);
    }

    @Test
    void sigtermWithANodeBlackHoledAbandonsTheRoundAndStillExits() {
        TableRef table = backlog("stalled", ROWS);
        String output;
        try {
            output = stopMidRound(table, "c");
        } finally {
            CLUSTER.proxy("c").heal();
        }
        assertTrue(output.contains("were abandoned"), "the log says the round was abandoned:\n" + output);
        convergeAndCheck(table, ROWS);
    }

    /** A table of {@code rows} rows on every node, all updated on a, in a sync of its own. */
    private static TableRef backlog(String name, int rows) {
        TableRef table = TableRef.parse(name);
        // keys of one length, so that the rounds' text order of keys is their numeric order
        CLUSTER.execAll("create table " + name + " (id bigint primary key, balance bigint not null, note text not null)",
                "insert into " + name + " select g, 0, 'init' from generate_series(1000001, " + (1_000_000 + rows) + ") g");
        CLUSTER.addSync(name, table);
        CLUSTER.exec("a", "update " + name + " set balance = balance + id, note = 'a'");
        return table;
    }

    /**
     * Runs {@code ibex start} until c holds part of the backlog, stalls the proxy of {@code stall}
     * (if not null), sends SIGTERM and checks the exit: within 30 s, by SIGTERM, and with b and c
     * holding whole chunks only. Returns the engine's output.
     */
    private static String stopMidRound(TableRef table, String stall) {
        String output;
        long stopMillis;
        try (EngineProcess engine = EngineProcess.start(CLUSTER.controlUrl())) {
            engine.awaitOutput("ibex engine running", Duration.ofSeconds(60));
            Await.until("c holds part of the backlog", Duration.ofSeconds(60), () -> count("c", table) > 0);
            if (stall != null) {
                CLUSTER.proxy(stall).stall();
            }
            long signalled = System.nanoTime();
            engine.terminate();
            assertTrue(engine.waitFor(Duration.ofSeconds(30)), "ibex start exits within 30 s of SIGTERM:\n" + engine.output());
            stopMillis = (System.nanoTime() - signalled) / 1_000_000;
            output = engine.output();
            assertEquals(143, engine.exitValue(), output);
        } finally {
            // later engines of this class must not run this sync's rounds
            CLUSTER.control().syncs().setPaused(table.name(), true);
        }
        long onB = count("b", table);
        long onC = count("c", table);
        System.out.printf("GracefulStopIT %s: stopped %d ms after SIGTERM with %d rows on b and %d on c; output:%n%s%n",
                table, stopMillis, onB, onC, output);
        assertTrue(output.contains("ibex engine stopping"), output);
        assertTrue(output.contains("ibex engine stopped"), output);
        assertTrue(wholeChunks(onB), "b holds whole chunks only: " + onB);
        assertTrue(wholeChunks(onC), "c holds whole chunks only: " + onC);
        return output;
    }

    /**
     * Whether {@code rows} is a whole number of the round's chunks: a backlog of {@link #ROWS} keys
     * comes in chunks of 1 000, 2 000, 4 000 and 8 000 keys (ChunkSizer: first chunk 1 000, at most
     * twice the previous; these rows are narrow enough that the byte budget allows about 15 000).
     */
    private static boolean wholeChunks(long rows) {
        long done = 0;
        for (long chunk = 1_000; done < rows; chunk *= 2) {
            done += chunk;
        }
        return done == rows;
    }

    private static void convergeAndCheck(TableRef table, int rows) {
        CLUSTER.control().syncs().setPaused(table.name(), false);
        CLUSTER.converge(table.name());
        for (String node : CLUSTER.nodes()) {
            assertEquals(rows, CLUSTER.count(node, "select count(*) from " + table.name()), "rows on " + node);
            assertEquals(rows, count(node, table), "rows as a wrote them on " + node);
        }
        assertEquals(List.of(), CLUSTER.conflicts(table.name(), table), "a stop creates no conflict");
    }

    private static long count(String node, TableRef table) {
        return CLUSTER.count(node, String.format(FROM_A, table.name()));
    }
}
