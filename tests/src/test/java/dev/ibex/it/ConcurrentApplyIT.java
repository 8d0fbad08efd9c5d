package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.journal.ConflictEntry;
import dev.ibex.engine.journal.ConflictEntry.SideEntry;
import dev.ibex.engine.round.RoundReport;
import dev.ibex.testkit.Await;
import dev.ibex.testkit.Sql;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * An application writes a row on a target while a round applies the same row there (invariants
 * 2 and 7): the apply never overwrites that write blindly and never makes the application fail;
 * the write is kept if it is the later one, or recorded in the conflict journal if it loses.
 *
 * <p>The application's transaction holds the row lock from before the round starts until the
 * round has either finished or blocked on that lock, and commits then. Whether the apply skips
 * the locked row, waits for it, or gives up on the node, the outcome asserted is the same.
 */
class ConcurrentApplyIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b", "c");
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final String SYNC = "apply";
    private static TableRef table;
    private static ExecutorService roundThread;

    @BeforeAll
    static void createSync() {
        CLUSTER.execAll("create table acc (id bigint primary key, v text not null)",
                "insert into acc select g, 'init' from generate_series(1, 10) g");
        table = TableRef.parse("acc");
        CLUSTER.addSync(SYNC, table);
        roundThread = Executors.newSingleThreadExecutor();
    }

    @AfterAll
    static void stopThread() {
        roundThread.shutdownNow();
    }

    @Test
    void laterLocalChangeCommittedDuringTheRoundIsKeptEverywhere() throws Exception {
        CLUSTER.exec("a", "update acc set v = 'from a' where id = 1");
        try (Connection app = openTransaction("b", "update acc set v = 'from b, later' where id = 1")) {
            RoundReport report = roundCommittingMidway(app);

            assertEquals(List.of(List.of("from b, later")), CLUSTER.rows("b", "select v from acc where id = 1"),
                    "the round did not overwrite b's change: " + Cluster.describe(report));
            assertEquals(List.of(List.of("from a")), CLUSTER.rows("c", "select v from acc where id = 1"),
                    "node c is not held up by node b: " + Cluster.describe(report));
        }
        CLUSTER.converge(SYNC);

        assertValueEverywhere(1, "from b, later");
        ConflictEntry conflict = onlyConflict("1");
        assertEquals("b", conflict.winner());
        assertEquals("from a", valueOnSide(conflict, "a"), "a's overwritten change is in the journal");
    }

    @Test
    void earlierLocalChangeCommittedDuringTheRoundLosesAndIsJournaled() throws Exception {
        try (Connection app = openTransaction("b", "update acc set v = 'from b, earlier' where id = 2")) {
            CLUSTER.exec("a", "update acc set v = 'from a, later' where id = 2");
            RoundReport report = roundCommittingMidway(app);

            assertEquals(List.of(List.of("from b, earlier")), CLUSTER.rows("b", "select v from acc where id = 2"),
                    "the round did not overwrite b's change blindly: " + Cluster.describe(report));
        }
        CLUSTER.converge(SYNC);

        assertValueEverywhere(2, "from a, later");
        ConflictEntry conflict = onlyConflict("2");
        assertEquals("a", conflict.winner());
        assertEquals("from b, earlier", valueOnSide(conflict, "b"), "the losing local change is in the journal");
    }

    @Test
    void rowLockedByAnApplicationForAWholeRoundHoldsUpNeitherTheApplicationNorOtherNodes() throws Exception {
        CLUSTER.exec("a", "update acc set v = 'from a' where id = 3");
        try (Connection app = openTransaction("b", "select id from acc where id = 3 for update")) {
            RoundReport report = CompletableFuture.supplyAsync(() -> CLUSTER.round(SYNC), roundThread)
                    .get(WAIT.toSeconds(), TimeUnit.SECONDS);

            assertEquals(List.of(List.of("from a")), CLUSTER.rows("c", "select v from acc where id = 3"),
                    "node c is not held up by the lock on node b: " + Cluster.describe(report));
            Sql.exec(app, "update acc set v = 'from b, same transaction' where id = 5");
            app.commit();
        }
        CLUSTER.converge(SYNC);

        assertValueEverywhere(3, "from a");
        assertValueEverywhere(5, "from b, same transaction");
        assertEquals(List.of(), CLUSTER.conflicts(SYNC, table).stream().filter(e -> !e.key().equals(List.of("1"))
                && !e.key().equals(List.of("2"))).toList(), "no conflict for rows changed on one node only");
    }

    /**
     * Runs a round in another thread, commits {@code app} once the round has finished or is
     * waiting for a lock on node b, and returns the round's report.
     */
    private static RoundReport roundCommittingMidway(Connection app) throws Exception {
        CompletableFuture<RoundReport> round = CompletableFuture.supplyAsync(() -> CLUSTER.round(SYNC), roundThread);
        Await.until("the round finishes or waits for a lock on node b", WAIT, () -> round.isDone() || lockWaiters("b") > 0);
        app.commit();
        return round.get(WAIT.toSeconds(), TimeUnit.SECONDS);
    }

    /** Opens a transaction on {@code node}, runs {@code sql} in it and leaves it open. */
    private static Connection openTransaction(String node, String sql) throws SQLException {
        Connection c = CLUSTER.connect(node);
        c.setAutoCommit(false);
        Sql.exec(c, sql);
        return c;
    }

    private static long lockWaiters(String node) {
        return CLUSTER.count(node, "select count(*) from pg_stat_activity where datname = current_database() "
                + "and application_name = 'ibex' and wait_event_type = 'Lock'");
    }

    private static void assertValueEverywhere(long id, String value) {
        for (String node : CLUSTER.nodes()) {
            assertEquals(List.of(List.of(value)), CLUSTER.rows(node, "select v from acc where id = ?", id), "row " + id + " on " + node);
        }
    }

    private static ConflictEntry onlyConflict(String key) {
        List<ConflictEntry> entries = CLUSTER.conflicts(SYNC, table).stream().filter(e -> e.key().equals(List.of(key))).toList();
        assertEquals(1, entries.size(), "journal entries for key " + key + ": " + entries);
        return entries.get(0);
    }

    private static String valueOnSide(ConflictEntry entry, String node) {
        SideEntry side = entry.sides().stream().filter(s -> s.node().equals(node) || s.origin().equals(node)).findFirst()
                .orElseThrow(() -> new AssertionError("no side of node " + node + " in " + entry));
        return side.row() == null ? null : side.row().get("v");
    }
}
