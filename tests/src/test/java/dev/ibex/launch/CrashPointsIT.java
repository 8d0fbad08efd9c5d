package dev.ibex.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.CrashPoints;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.journal.ConflictEntry;
import dev.ibex.it.Cluster;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Invariant 4, exactly-once effect, at every step of a round: {@code ibex start} runs in its own
 * JVM with one crash point enabled ({@code -Dibex.crashpoint}), stops dead there, and is killed with
 * SIGKILL. The nodes hold what that step had committed (nothing, or part of the backlog); then a
 * fresh engine must bring every node to the same rows, each row to the value the model expects
 * (rows written on one node hold that node's last value, the contended rows the latest write), with
 * no effect applied twice (an additive balance) and exactly one journal entry per conflict.
 *
 * <p>The backlog (keys are 100 000 + n): n = 1..5 updated on a, then on b (five conflicts, b wins);
 * 6..1500 updated twice on a; 2001..2500 updated on b; 5001..5800 inserted on b; 2801..2810 deleted
 * on c. Every write adds {@code id} to the balance once. A round takes a's changes first, in key
 * order, in chunks of 1 000 and 500 keys (as {@code ChunkSizer} sizes narrow rows), applying
 * each chunk to a, b and c in that order; then b's, then c's.
 */
class CrashPointsIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b", "c");
    private static final int INITIAL = 3000;
    private static final int EXPECTED_ROWS = INITIAL - 10 + 800;
    private static final String AS_MODELLED = "select count(*) from %s where balance = id and ("
            + "(id between 100001 and 100005 and note = 'b-c') or (id between 100006 and 101500 and note = 'a1') "
            + "or (id between 102001 and 102500 and note = 'b1') or (id between 105001 and 105800 and note = 'b')) "
            + "or (balance = 0 and note = 'init' and id not between 100001 and 101500 and id not between 102001 and 102500 "
            + "and id not between 102801 and 102810 and id <= " + (100000 + INITIAL) + ")";

    static List<String> points() {
        return CrashPoints.ALL;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("points")
    void engineKilledAtCrashPointRecoversExactlyOnce(String point) {
        String table = "acct_" + point.replace('-', '_');
        String sync = "s_" + point.replace('-', '_');
        TableRef ref = TableRef.parse(table);
        CLUSTER.execAll("create table " + table + " (id bigint primary key, balance bigint not null, note text not null)",
                "insert into " + table + " select g, 0, 'init' from generate_series(100001, " + (100000 + INITIAL) + ") g");
        CLUSTER.addSync(sync, ref);
        writeBacklog(table);
        Map<String, String> written = new LinkedHashMap<>();
        CLUSTER.nodes().forEach(n -> written.put(n, CLUSTER.rows(n, "select pg_current_snapshot()::text").get(0).get(0)));

        long started = System.nanoTime();
        try {
            try (EngineProcess engine = EngineProcess.start(CLUSTER.controlUrl(), "ibex.crashpoint=" + point)) {
                engine.awaitOutput("ibex crashpoint " + point + " reached", Duration.ofSeconds(60));
                engine.kill();
            }
            checkPartlyApplied(point, table, ref, sync);
            checkPublishedOnlyWhatWasApplied(point, table, sync, written);

            List<?> rounds = CLUSTER.converge(sync);
            for (String node : CLUSTER.nodes()) {
                assertEquals(CLUSTER.nodes().stream().filter(n -> !n.equals(node)).toList(), published(node, sync, written.get(node)),
                        "after recovery " + node + " records that every other node has its backlog");
            }
            for (String node : CLUSTER.nodes()) {
                assertEquals(EXPECTED_ROWS, CLUSTER.count(node, "select count(*) from " + table), "rows on " + node);
                assertEquals(EXPECTED_ROWS, CLUSTER.count(node, String.format(AS_MODELLED, table)), "rows as modelled on " + node);
            }
            assertJournal(sync, ref);
            System.out.printf("CrashPointsIT %s: killed and recovered in %d ms (%d recovery rounds)%n", point,
                    (System.nanoTime() - started) / 1_000_000, rounds.size());
        } finally {
            // the next engines must reach their crash point in their own sync's round
            CLUSTER.control().syncs().setPaused(sync, true);
        }
    }

    private static void writeBacklog(String table) {
        CLUSTER.exec("a", "update " + table + " set balance = balance + id, note = 'a-c' where id between 100001 and 100005");
        CLUSTER.exec("b", "update " + table + " set balance = balance + id, note = 'b-c' where id between 100001 and 100005");
        CLUSTER.exec("a", "update " + table + " set note = 'a0' where id between 100006 and 101500");
        CLUSTER.exec("a", "update " + table + " set balance = balance + id, note = 'a1' where id between 100006 and 101500");
        CLUSTER.exec("b", "update " + table + " set balance = balance + id, note = 'b1' where id between 102001 and 102500");
        CLUSTER.exec("b", "insert into " + table + " select g, g, 'b' from generate_series(105001, 105800) g");
        CLUSTER.exec("c", "delete from " + table + " where id between 102801 and 102810");
    }

    /** What each crash point must have left behind, before any recovery. */
    private static void checkPartlyApplied(String point, String table, TableRef ref, String sync) {
        long journaled = CLUSTER.conflicts(sync, ref).size();
        long bRowsOnA = CLUSTER.count("a", "select count(*) from " + table + " where note like 'b%'");
        long aRowsOnC = CLUSTER.count("c", "select count(*) from " + table + " where note like 'a%'");
        long bInsertsOnC = CLUSTER.count("c", "select count(*) from " + table + " where id > 105000");
        long marksOnA = watermarks("a", ref);
        long marksOnB = watermarks("b", ref);
        long marksOnC = watermarks("c", ref);
        String state = point + ": journal " + journaled + ", b's rows on a " + bRowsOnA + ", a's rows on c " + aRowsOnC
                + ", b's inserts on c " + bInsertsOnC + ", watermarks a/b/c " + marksOnA + "/" + marksOnB + "/" + marksOnC;
        System.out.println("CrashPointsIT " + state);
        switch (point) {
            case CrashPoints.LOGS_FOLDED, CrashPoints.CHUNK_DECIDED -> {
                assertEquals(0, journaled, state);
                assertEquals(0, bRowsOnA + aRowsOnC, "nothing applied: " + state);
            }
            case CrashPoints.JOURNAL_WRITTEN, CrashPoints.APPLY_UNCOMMITTED -> {
                assertEquals(5, journaled, "the first chunk's conflicts are journaled: " + state);
                assertEquals(0, bRowsOnA + aRowsOnC, "nothing applied (the open transaction rolled back): " + state);
            }
            case CrashPoints.TARGET_COMMITTED -> {
                assertEquals(5, bRowsOnA, "a took the conflicts b won, in the first chunk of a's changes: " + state);
                // a's 1 500 changed keys come in chunks of 1 000 (a round's first) and 500
                assertEquals(995, aRowsOnC, "c took every chunk of a's changes but the last (n = 1001..1500): " + state);
                assertEquals(0, bInsertsOnC, "nothing of b's changes yet: " + state);
                assertEquals(1, marksOnB, "b's watermark for a came with its last chunk of a's changes: " + state);
                assertEquals(0, marksOnA + marksOnC, "a and c hold no watermark yet: " + state);
            }
            case CrashPoints.ROUND_APPLIED -> {
                assertEquals(5, journaled, state);
                for (String node : CLUSTER.nodes()) {
                    assertEquals(EXPECTED_ROWS, CLUSTER.count(node, String.format(AS_MODELLED, table)), "round applied on " + node);
                }
                assertEquals(6, marksOnA + marksOnB + marksOnC, "every target's watermarks: " + state);
            }
            default -> throw new AssertionError("no expectation for crash point " + point);
        }
    }

    /**
     * What a source records as applied elsewhere (ibex.wait_replicated's answer) holds on those
     * nodes: each node named as having a source's backlog shows that source's part of it. Only the
     * round that applied everything may have recorded anything.
     */
    private static void checkPublishedOnlyWhatWasApplied(String point, String table, String sync, Map<String, String> written) {
        Map<String, String> backlog = Map.of(
                "a", "select count(*) = 1495 from " + table + " where id between 100006 and 101500 and note = 'a1'",
                "b", "select count(*) = 1300 from " + table + " where (id between 102001 and 102500 and note = 'b1') or id > 105000",
                "c", "select count(*) = 0 from " + table + " where id between 102801 and 102810");
        for (String source : CLUSTER.nodes()) {
            List<String> have = published(source, sync, written.get(source));
            if (CrashPoints.ROUND_APPLIED.equals(point)) {
                assertEquals(CLUSTER.nodes().stream().filter(n -> !n.equals(source)).toList(), have,
                        point + ": the round that applied everything records it on " + source);
            } else {
                assertEquals(List.of(), have, point + ": a round that did not finish records nothing on " + source);
            }
            for (String target : have) {
                assertEquals("t", CLUSTER.rows(target, backlog.get(source)).get(0).get(0),
                        point + ": " + source + " records that " + target + " has its backlog, and it does");
            }
        }
    }

    private static List<String> published(String node, String sync, String since) {
        String nodes = CLUSTER.rows(node, "select array_to_string(ibex.replicated_nodes(array[?], ?::pg_snapshot), ',')", sync, since)
                .get(0).get(0);
        return nodes.isEmpty() ? List.of() : List.of(nodes.split(","));
    }

    private static long watermarks(String node, TableRef ref) {
        return CLUSTER.count(node, "select count(*) from ibex.watermark where ledger_name = ?", ref.ledgerName());
    }

    /** Exactly one entry per contended key, each won by b's later write. */
    private static void assertJournal(String sync, TableRef ref) {
        List<ConflictEntry> entries = CLUSTER.conflicts(sync, ref);
        List<List<String>> keys = entries.stream().map(ConflictEntry::key).sorted((x, y) -> x.toString().compareTo(y.toString())).toList();
        assertEquals(IntStream.rangeClosed(100001, 100005).mapToObj(i -> List.of(String.valueOf(i))).toList(), keys,
                "one journal entry per conflict: " + entries);
        assertTrue(entries.stream().allMatch(e -> "b".equals(e.winner())), "b's later write wins every conflict: " + entries);
    }
}
