package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.CrashPoints;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.journal.ConflictEntry;
import dev.ibex.engine.round.RoundReport;
import dev.ibex.testkit.Await;
import dev.ibex.testkit.Sql;
import java.sql.Connection;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The orders of events that the change log and its fold introduce (issue 12), each made to happen
 * at its exact step of a round with {@link CrashPoints#at}: an application write committed after a
 * node's fold but before the round reads that node; one committed after the read but before the
 * apply locks the row; one made while the apply holds the row; a transaction that spans a switch of
 * the log table; a key written again right after its fold; statements that change key columns;
 * statements large enough to log a marker instead of their keys, inside subtransactions too. In
 * every case nothing written is lost or overwritten without a conflict, and the nodes converge.
 */
class ChangeLogIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b", "c");
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static ExecutorService app;

    @BeforeAll
    static void start() {
        app = Executors.newSingleThreadExecutor();
    }

    @AfterAll
    static void stop() {
        app.shutdownNow();
    }

    @AfterEach
    void clearActions() {
        CrashPoints.clear();
    }

    private static TableRef table(String name, int rows) {
        CLUSTER.execAll("create table " + name + " (id bigint primary key, v text not null, n bigint not null default 0)",
                "insert into " + name + " select g, 'init', 0 from generate_series(1, " + rows + ") g");
        TableRef t = TableRef.parse(name);
        CLUSTER.addSync(name, t);
        return t;
    }

    @Test
    void aWriteCommittedAfterTheFoldIsNotDecidedWithAnOldVersion() {
        TableRef t = table("after_fold", 10);
        CLUSTER.exec("a", "update after_fold set v = 'from a' where id = 1");
        AtomicBoolean once = new AtomicBoolean();
        CrashPoints.at(CrashPoints.LOGS_FOLDED, () -> {
            if (once.compareAndSet(false, true)) {
                CLUSTER.exec("b", "update after_fold set v = 'from b, after the fold' where id = 1");
            }
        });
        RoundReport first = CLUSTER.round("after_fold");
        assertEquals(List.of(List.of("from b, after the fold")), CLUSTER.rows("b", "select v from after_fold where id = 1"),
                "b's change was not overwritten by a's older one: " + Cluster.describe(first));
        CrashPoints.clear();
        CLUSTER.converge("after_fold");
        assertValue("after_fold", 1, "from b, after the fold");
        ConflictEntry c = onlyConflict("after_fold", t);
        assertEquals("b", c.winner(), "b's change is the later one: " + c);
    }

    @Test
    void aWriteCommittedBetweenTheReadAndTheApplyIsSkippedAndDecidedNextRound() {
        TableRef t = table("before_lock", 10);
        CLUSTER.exec("a", "update before_lock set v = 'from a' where id = 1");
        AtomicBoolean once = new AtomicBoolean();
        CrashPoints.at(CrashPoints.CHUNK_DECIDED, () -> {
            if (once.compareAndSet(false, true)) {
                CLUSTER.exec("b", "update before_lock set v = 'from b, before the lock' where id = 1");
            }
        });
        RoundReport first = CLUSTER.round("before_lock");
        assertEquals(List.of(List.of("from b, before the lock")), CLUSTER.rows("b", "select v from before_lock where id = 1"),
                "the apply skipped the row b changed since the round read it: " + Cluster.describe(first));
        assertEquals(List.of(List.of("from a")), CLUSTER.rows("c", "select v from before_lock where id = 1"), "c is not held up");
        CrashPoints.clear();
        CLUSTER.converge("before_lock");
        assertValue("before_lock", 1, "from b, before the lock");
        assertEquals("b", onlyConflict("before_lock", t).winner());
    }

    @Test
    void aWriteWaitingForTheApplysLockFollowsItWithoutConflict() throws Exception {
        TableRef t = table("during_lock", 10);
        CLUSTER.exec("a", "update during_lock set v = 'from a' where id = 1");
        AtomicBoolean once = new AtomicBoolean();
        CompletableFuture<?>[] write = new CompletableFuture<?>[1];
        try (Connection writer = CLUSTER.connect("b")) {
            CrashPoints.at(CrashPoints.APPLY_UNCOMMITTED, () -> {
                if (once.compareAndSet(false, true)) {
                    write[0] = CompletableFuture.runAsync(() -> Sql.exec(writer, "update during_lock set v = v || ', then b' where id = 1"), app);
                    Await.until("b's write waits for the apply's row lock", WAIT, () -> lockWaiters("b") > 0);
                }
            });
            CLUSTER.round("during_lock");
            write[0].get(WAIT.toSeconds(), TimeUnit.SECONDS);
        }
        CrashPoints.clear();
        assertEquals(0, CLUSTER.converge("during_lock").stream().mapToLong(RoundReport::conflicts).sum(),
                "b's write came after the replicated one: no conflict");
        assertValue("during_lock", 1, "from a, then b");
        assertEquals(List.of(), CLUSTER.conflicts("during_lock", t));
    }

    @Test
    void aTransactionSpanningALogSwitchIsFoldedWholeAndItsOldLogOutlivesIt() throws Exception {
        TableRef t = table("spanning", 10);
        String log0 = "ibex.\"" + t.ledgerName() + "_log0\"";
        try (Connection tx = CLUSTER.connect("a")) {
            tx.setAutoCommit(false);
            Sql.exec(tx, "update spanning set v = 'long tx, first' where id = 1");
            CLUSTER.exec("a", "select ibex.rotate_log('public', 'spanning')");
            Sql.exec(tx, "update spanning set v = 'long tx, second' where id = 2");
            CLUSTER.exec("a", "update spanning set v = 'short tx' where id = 3");
            CLUSTER.converge("spanning");
            assertEquals(List.of(List.of("init"), List.of("init"), List.of("short tx")),
                    CLUSTER.rows("b", "select v from spanning where id <= 3 order by id"), "only the committed change replicated");
            tx.commit();
        }
        assertEquals(1, CLUSTER.count("a", "select count(*) from " + log0),
                "the rounds did not truncate the old log while the transaction could still write to it");
        CLUSTER.converge("spanning");
        assertEquals(List.of(List.of("long tx, first"), List.of("long tx, second"), List.of("short tx")),
                CLUSTER.rows("c", "select v from spanning where id <= 3 order by id"));
        CLUSTER.round("spanning");
        assertEquals(0, CLUSTER.count("a", "select count(*) from " + log0), "the old log is truncated once folded and free");
    }

    @Test
    void aKeyWrittenAgainRightAfterItsFoldReplicatesItsLastValue() {
        TableRef t = table("again", 10);
        CLUSTER.exec("a", "update again set v = 'first', n = n + 1 where id = 1");
        AtomicBoolean once = new AtomicBoolean();
        CrashPoints.at(CrashPoints.LOGS_FOLDED, () -> {
            if (once.compareAndSet(false, true)) {
                CLUSTER.exec("a", "update again set v = 'second', n = n + 1 where id = 1");
            }
        });
        CLUSTER.round("again");
        CrashPoints.clear();
        assertEquals(0, CLUSTER.converge("again").stream().mapToLong(RoundReport::conflicts).sum());
        assertEquals(List.of(List.of("second", "2")), CLUSTER.rows("c", "select v, n from again where id = 1"));
        assertEquals(List.of(), CLUSTER.conflicts("again", t));
    }

    /**
     * A key the source changed again after its fold is deferred without holding back the targets'
     * watermarks: the source's next fold gives it a later position, so the next round reads from
     * past this one's keys (under sustained writes, a watermark held back by every such key never
     * moved, and each round read everything since it again).
     */
    @Test
    void aKeyTheSourceChangedAgainAfterItsFoldDoesNotHoldBackTheWatermarks() {
        TableRef t = table("passed", 10);
        CLUSTER.converge("passed");
        CLUSTER.exec("a", "update passed set v = 'a', n = n + 1 where id in (1, 2)");
        AtomicBoolean once = new AtomicBoolean();
        AtomicLong position = new AtomicLong();
        CrashPoints.at(CrashPoints.LOGS_FOLDED, () -> {
            if (once.compareAndSet(false, true)) {
                position.set(CLUSTER.count("a", "select ibex_txid::text::bigint from " + Cluster.ledger(t) + " where id = 2"));
                CLUSTER.exec("a", "update passed set v = 'a, again', n = n + 1 where id = 1");
            }
        });
        RoundReport first = CLUSTER.round("passed");
        CrashPoints.clear();
        for (String node : List.of("b", "c")) {
            assertEquals(List.of(List.of("1", "init"), List.of("2", "a")), CLUSTER.rows(node, "select id, v from passed where id <= 2 order by id"),
                    "key 1 deferred, key 2 applied on " + node + ": " + Cluster.describe(first));
            long mark = CLUSTER.count(node, "select coalesce(max(boundary::text::bigint), 0) from ibex.watermark where ledger_name = ? and source_node = 'a'",
                    t.ledgerName());
            assertTrue(mark > position.get(), node + "'s watermark for a (" + mark + ") is past the fold's keys (" + position + ")");
        }
        CLUSTER.converge("passed");
        assertValue("passed", 1, "a, again");
        assertEquals(List.of(), CLUSTER.conflicts("passed", t), "one writer, no conflict");
    }

    /**
     * A table whose fold fails on a node is reported and left as it was there; the sync's other
     * tables fold and replicate in the same round, and the table catches up once its fold works.
     */
    @Test
    void aTableWhoseFoldFailsIsReportedAndTheOthersReplicate() {
        CLUSTER.execAll("create table fold_ok (id bigint primary key, v text not null)", "insert into fold_ok values (1, 'init')",
                "create table fold_broken (id bigint primary key, v text not null)", "insert into fold_broken values (1, 'init')");
        TableRef ok = TableRef.parse("fold_ok");
        TableRef broken = TableRef.parse("fold_broken");
        CLUSTER.addSync("fold_two", ok, broken);
        CLUSTER.converge("fold_two");
        // the fold's INSERT … ON CONFLICT (id) needs the ledger's key: without it, that table's fold fails on a
        String ledger = Cluster.ledger(broken);
        String pkey = "\"" + broken.ledgerName() + "_pkey\"";
        CLUSTER.exec("a", "alter table " + ledger + " drop constraint " + pkey);
        CLUSTER.exec("a", "update fold_ok set v = 'a' where id = 1", "update fold_broken set v = 'a' where id = 1");
        RoundReport r = CLUSTER.round("fold_two");
        assertTrue(r.errors().stream().anyMatch(e -> e.contains("node a") && e.contains("table public.fold_broken: folding its change log")),
                "the failed fold is reported: " + Cluster.describe(r));
        for (String node : List.of("b", "c")) {
            assertEquals(List.of(List.of("a")), CLUSTER.rows(node, "select v from fold_ok where id = 1"), "the other table replicated to " + node);
            assertEquals(List.of(List.of("init")), CLUSTER.rows(node, "select v from fold_broken where id = 1"), "not the broken one, on " + node);
        }
        assertEquals(1, CLUSTER.count("a", "select count(*) from (select id from ibex.\"" + broken.ledgerName() + "_log0\" union all "
                + "select id from ibex.\"" + broken.ledgerName() + "_log1\") e"), "its log entry waits, unfolded");
        CLUSTER.exec("a", "alter table " + ledger + " add constraint " + pkey + " primary key (id)");
        CLUSTER.converge("fold_two");
        assertValue("fold_broken", 1, "a");
    }

    @Test
    void statementsThatChangeKeysReplicateAsADeleteAndAnInsert() {
        table("rekey", 3000);
        CLUSTER.exec("a", "update rekey set id = 100000 where id = 1");
        CLUSTER.exec("b", "update rekey set id = id + 10000, v = 'moved by b' where id between 2001 and 3000");
        CLUSTER.exec("c", "update rekey set v = 'c' where id = 5");
        CLUSTER.converge("rekey");
        for (String n : CLUSTER.nodes()) {
            assertEquals(List.of(List.of("3000", "0", "1000")), CLUSTER.rows(n, "select count(*), count(*) filter (where id = 1), "
                    + "count(*) filter (where id > 12000 and v = 'moved by b') from rekey"), "on " + n);
            assertEquals(List.of(List.of("c")), CLUSTER.rows(n, "select v from rekey where id = 5"));
        }
    }

    @Test
    void largeStatementsLogAMarkerAndReplicateInsideSubtransactions() {
        TableRef t = table("bulk", 4000);
        String log = "(select * from ibex.\"" + t.ledgerName() + "_log0\" union all select * from ibex.\"" + t.ledgerName() + "_log1\") e";
        CLUSTER.exec("a", "begin", "savepoint s", "update bulk set v = 'kept', n = n + 1", "release savepoint s",
                "savepoint t", "update bulk set v = 'rolled back', n = n + 100", "rollback to savepoint t", "commit");
        assertTrue(CLUSTER.count("a", "select count(*) from " + log + " where id is null") >= 1, "a marker stands for the kept update's rows");
        assertTrue(CLUSTER.count("a", "select count(*) from " + log) < 3000, "not one entry per key");
        CLUSTER.exec("b", "update bulk set v = 'b' where id = 7");
        CLUSTER.converge("bulk");
        for (String n : CLUSTER.nodes()) {
            assertEquals(List.of(List.of("3999", "0", "1")), CLUSTER.rows(n, "select count(*) filter (where v = 'kept' and n = 1), "
                    + "count(*) filter (where v = 'rolled back' or n > 1), count(*) filter (where v = 'b') from bulk"), "on " + n);
        }
    }

    @Test
    void aBulkWriteAfterTheFoldDefersTheRowsItChanged() {
        TableRef t = table("bulk_after", 4000);
        CLUSTER.exec("a", "update bulk_after set v = 'a' where id = 1");
        AtomicBoolean once = new AtomicBoolean();
        CrashPoints.at(CrashPoints.LOGS_FOLDED, () -> {
            if (once.compareAndSet(false, true)) {
                CLUSTER.exec("b", "update bulk_after set v = 'b, everything', n = n + 1");
            }
        });
        CLUSTER.round("bulk_after");
        assertEquals(List.of(List.of("b, everything")), CLUSTER.rows("b", "select v from bulk_after where id = 1"),
                "a's row did not overwrite b's marked, unfolded change");
        CrashPoints.clear();
        CLUSTER.converge("bulk_after");
        assertValue("bulk_after", 1, "b, everything");
        assertEquals("b", onlyConflict("bulk_after", t).winner());
        assertEquals(4000, CLUSTER.count("c", "select count(*) from bulk_after where n = 1"));
    }

    @Test
    void aSourceRowChangedAfterItsFoldIsDeferredAmongManyUnfoldedKeys() {
        table("many_unfolded", 30_000);
        CLUSTER.exec("a", "update many_unfolded set v = 'a, folded' where id = 1");
        AtomicBoolean once = new AtomicBoolean();
        CrashPoints.at(CrashPoints.LOGS_FOLDED, () -> {
            if (once.compareAndSet(false, true)) {
                // statements of 500 rows log their keys (no marker): 20 000 keys wait unfolded while a streams
                for (int i = 0; i < 40; i++) {
                    CLUSTER.exec("a", "update many_unfolded set n = n + 1 where id > " + (10_000 + i * 500) + " and id <= " + (10_500 + i * 500));
                }
                CLUSTER.exec("a", "update many_unfolded set v = 'a, after the fold' where id = 1");
            }
        });
        RoundReport first = CLUSTER.round("many_unfolded");
        for (String node : List.of("b", "c")) {
            assertEquals(List.of(List.of("init")), CLUSTER.rows(node, "select v from many_unfolded where id = 1"),
                    "a's row, changed after its fold, was not sent with the version of the fold: " + Cluster.describe(first));
        }
        CrashPoints.clear();
        CLUSTER.converge("many_unfolded");
        assertValue("many_unfolded", 1, "a, after the fold");
        for (String node : CLUSTER.nodes()) {
            assertEquals(20_000, CLUSTER.count(node, "select count(*) from many_unfolded where n = 1"), "rows changed after the fold on " + node);
        }
        assertEquals(List.of(), CLUSTER.conflicts("many_unfolded", TableRef.parse("many_unfolded")), "one writer, no conflict");
    }

    @Test
    void aSourceRowChangedAfterItsFoldByAMarkedStatementIsDeferred() {
        table("marked_after", 4000);
        CLUSTER.exec("a", "update marked_after set v = 'a, folded' where id = 1");
        AtomicBoolean once = new AtomicBoolean();
        CrashPoints.at(CrashPoints.LOGS_FOLDED, () -> {
            if (once.compareAndSet(false, true)) {
                CLUSTER.exec("a", "update marked_after set v = 'a, everything', n = n + 1");
            }
        });
        RoundReport first = CLUSTER.round("marked_after");
        for (String node : List.of("b", "c")) {
            assertEquals(List.of(List.of("init")), CLUSTER.rows(node, "select v from marked_after where id = 1"),
                    "a's row, rewritten after its fold by a statement that logged a marker, was not sent with the fold's version: "
                            + Cluster.describe(first));
        }
        CrashPoints.clear();
        CLUSTER.converge("marked_after");
        assertValue("marked_after", 1, "a, everything");
        assertEquals(4000, CLUSTER.count("c", "select count(*) from marked_after where n = 1"));
    }

    private static long lockWaiters(String node) {
        return CLUSTER.count(node, "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'");
    }

    private static void assertValue(String table, long id, String value) {
        for (String node : CLUSTER.nodes()) {
            assertEquals(List.of(List.of(value)), CLUSTER.rows(node, "select v from " + table + " where id = ?", id), "row " + id + " on " + node);
        }
    }

    private static ConflictEntry onlyConflict(String sync, TableRef t) {
        List<ConflictEntry> entries = CLUSTER.conflicts(sync, t);
        assertEquals(1, entries.size(), "journal entries: " + entries);
        return entries.get(0);
    }
}
