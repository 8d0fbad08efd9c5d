package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.UsageException;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.journal.ConflictEntry;
import dev.ibex.engine.journal.ConflictState;
import dev.ibex.engine.journal.ConflictJournal;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Every conflict strategy against three real masters: the kinds of conflict under {@code latest}
 * (insert/insert, delete/delete, a key update against a change to either key), {@code priority}
 * and its configuration checks, the two example custom resolvers (column merge, counter deltas,
 * including a strategy switched on an existing table), and {@code manual} with operator choices.
 */
class StrategiesIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b", "c");

    private static final String COLUMN_MERGE = "custom:dev.ibex.conflict.examples.ColumnMergeResolver";
    private static final String COUNTER = "custom:dev.ibex.conflict.examples.CounterDeltaResolver:qty";

    @Test
    void insertInsertOfTheSameKeyIsAConflictTheLaterInsertWins() {
        TableRef t = table("ii", "id integer primary key, v text");
        CLUSTER.addSync("ii", t);
        CLUSTER.exec("a", "insert into ii values (1, 'a inserted first')");
        CLUSTER.exec("b", "insert into ii values (1, 'b inserted later')");
        CLUSTER.converge("ii");

        assertAll("ii", "1=b inserted later");
        List<ConflictEntry> journal = CLUSTER.conflicts("ii", t);
        assertEquals(1, journal.size(), "one conflict: " + journal);
        assertEquals("b", journal.get(0).winner());
        assertEquals(ConflictState.DECIDED, journal.get(0).status());
    }

    @Test
    void deleteDeleteIsAConflictThatLeavesNoRow() {
        TableRef t = table("dd", "id integer primary key, v text");
        CLUSTER.execAll("insert into dd values (1, 'x'), (2, 'y')");
        CLUSTER.addSync("dd", t);
        CLUSTER.exec("a", "delete from dd where id = 1");
        CLUSTER.exec("b", "delete from dd where id = 1");
        CLUSTER.converge("dd");

        assertAll("dd", "2=y");
        List<ConflictEntry> journal = CLUSTER.conflicts("dd", t);
        assertEquals(1, journal.size(), "one conflict: " + journal);
        assertTrue(journal.get(0).sides().stream().allMatch(s -> s.row() == null), "both sides are deletes: " + journal);
    }

    @Test
    void keyUpdateAgainstALaterChangeToTheOldKeyKeepsBothRows() {
        TableRef t = table("ko", "id integer primary key, v text");
        CLUSTER.execAll("insert into ko values (1, 'init')");
        CLUSTER.addSync("ko", t);
        CLUSTER.exec("a", "update ko set id = 10, v = 'a moved 1 to 10' where id = 1");
        CLUSTER.exec("b", "update ko set v = 'b changed 1 later' where id = 1");
        CLUSTER.converge("ko");

        // key 1: a's delete (the move) against b's later update -> b's row stays; key 10: a's insert, no conflict
        assertAll("ko", "1=b changed 1 later", "10=a moved 1 to 10");
        List<ConflictEntry> journal = CLUSTER.conflicts("ko", t);
        assertEquals(List.of("1"), journal.stream().map(e -> e.key().get(0)).toList(), "one conflict, on the old key");
        assertEquals("b", journal.get(0).winner());
    }

    @Test
    void keyUpdateAgainstALaterInsertOfTheNewKeyGoesToTheInsert() {
        TableRef t = table("kn", "id integer primary key, v text");
        CLUSTER.execAll("insert into kn values (2, 'init')");
        CLUSTER.addSync("kn", t);
        CLUSTER.exec("a", "update kn set id = 20, v = 'a moved 2 to 20' where id = 2");
        CLUSTER.exec("b", "insert into kn values (20, 'b inserted 20 later')");
        CLUSTER.converge("kn");

        // key 20: insert (a's move) against b's later insert -> b; key 2: a's delete, no conflict
        assertAll("kn", "20=b inserted 20 later");
        List<ConflictEntry> journal = CLUSTER.conflicts("kn", t);
        assertEquals(List.of("20"), journal.stream().map(e -> e.key().get(0)).toList(), "one conflict, on the new key");
    }

    @Test
    void priorityPicksTheHighestListedNodeWhateverTheClocks() {
        TableRef t = table("prio", "id integer primary key, v text");
        CLUSTER.execAll("insert into prio values (1, 'init'), (2, 'init'), (3, 'init')");
        CLUSTER.addSync("prio", "priority", List.of("b", "a", "c"), t);
        CLUSTER.exec("b", "update prio set v = 'b first' where id = 1");
        CLUSTER.exec("a", "update prio set v = 'a later' where id = 1");
        CLUSTER.exec("c", "update prio set v = 'c first' where id = 2");
        CLUSTER.exec("a", "update prio set v = 'a later' where id = 2");
        CLUSTER.exec("a", "update prio set v = 'a' where id = 3");
        CLUSTER.exec("c", "update prio set v = 'c' where id = 3");
        CLUSTER.exec("b", "update prio set v = 'b' where id = 3");
        CLUSTER.converge("prio");

        assertAll("prio", "1=b first", "2=a later", "3=b");
        assertEquals(3, CLUSTER.conflicts("prio", t).size());
        assertTrue(CLUSTER.conflicts("prio", t).stream().allMatch(e -> "priority".equals(e.strategy())));
    }

    @Test
    void priorityListsAreCheckedWhenConfigured() {
        TableRef t = table("prio_bad", "id integer primary key, v text");
        UsageException outsider = assertThrows(UsageException.class,
                () -> CLUSTER.addSync("prio_bad", "priority", List.of("a", "x"), t));
        assertTrue(outsider.getMessage().contains("x"), outsider.getMessage());
        UsageException empty = assertThrows(UsageException.class, () -> CLUSTER.addSync("prio_bad", "priority", List.of(), t));
        assertTrue(empty.getMessage().contains("--priority"), empty.getMessage());

        CLUSTER.addSync("prio_bad", t);
        SyncSettings s = CLUSTER.control().syncs().get("prio_bad");
        UsageException override = assertThrows(UsageException.class, () -> CLUSTER.installer().update(withTableStrategy(s, "priority")));
        assertTrue(override.getMessage().contains("--priority"), override.getMessage());
        assertEquals(null, CLUSTER.control().syncs().get("prio_bad").tables().get(0).strategy(), "a refused change changes nothing");
    }

    @Test
    void columnMergeKeepsNonConflictingColumnsFromEachSide() {
        TableRef t = table("person", "id integer primary key, name text, email text, city text");
        CLUSTER.execAll("insert into person values (1, 'Ann', 'ann@old', 'Oslo'), (2, 'Bob', 'bob@old', 'Oslo')");
        CLUSTER.addSync("person", COLUMN_MERGE, List.of(), t);
        CLUSTER.exec("a", "update person set name = 'Anne' where id = 1");
        CLUSTER.exec("b", "update person set email = 'ann@new' where id = 1");
        CLUSTER.exec("c", "update person set city = 'Rome' where id = 1");
        CLUSTER.exec("a", "update person set city = 'Paris', name = 'Bobby' where id = 2");
        CLUSTER.exec("b", "update person set city = 'Lima' where id = 2");
        CLUSTER.converge("person");

        assertEquals(List.of(List.of("1", "Anne", "ann@new", "Rome"), List.of("2", "Bobby", "bob@old", "Lima")),
                CLUSTER.rows("c", "select id::text, name, email, city from person order by id"));
        List<ConflictEntry> journal = CLUSTER.conflicts("person", t);
        assertEquals(2, journal.size(), "two conflicts: " + journal);
        assertTrue(journal.stream().allMatch(e -> ConflictJournal.MERGED.equals(e.winner()) && "column-merge".equals(e.strategy())),
                journal.toString());
    }

    @Test
    void counterDeltasAddUpUnderConcurrentIncrementsRoundAfterRound() {
        TableRef t = table("stock", "id integer primary key, qty integer, note text");
        CLUSTER.execAll("insert into stock values (1, 10, 'n'), (2, 100, 'n')");
        CLUSTER.addSync("stock", COUNTER, List.of(), t);

        CLUSTER.exec("a", "update stock set qty = qty + 1 where id = 1");
        CLUSTER.exec("b", "update stock set qty = qty + 2 where id = 1");
        CLUSTER.exec("c", "update stock set qty = qty + 3 where id = 1");
        CLUSTER.converge("stock");
        assertQty(1, 16);

        CLUSTER.exec("a", "update stock set qty = qty + 1 where id = 1");
        CLUSTER.converge("stock");
        assertQty(1, 17);

        // a's last change went everywhere without a conflict; its next increments count from 17
        CLUSTER.exec("a", "update stock set qty = qty + 1 where id = 1", "update stock set qty = qty + 1 where id = 1");
        CLUSTER.exec("b", "update stock set qty = qty + 5 where id = 1", "update stock set qty = qty - 1 where id = 2");
        CLUSTER.exec("c", "update stock set qty = qty - 10 where id = 2", "update stock set note = 'c' where id = 2");
        CLUSTER.converge("stock");
        assertQty(1, 24);
        assertQty(2, 89);
        assertEquals(List.of(List.of("c")), CLUSTER.rows("a", "select note from stock where id = 2"));
    }

    @Test
    void switchingAnExistingTableToACounterStrategyStartsTrackingBases() {
        TableRef t = table("stock2", "id integer primary key, qty integer");
        CLUSTER.execAll("insert into stock2 values (1, 10)");
        CLUSTER.addSync("stock2", t);
        CLUSTER.exec("a", "update stock2 set qty = 11 where id = 1");
        CLUSTER.converge("stock2");

        CLUSTER.installer().update(withTableStrategy(CLUSTER.control().syncs().get("stock2"), COUNTER));
        CLUSTER.exec("a", "update stock2 set qty = qty + 4 where id = 1");
        CLUSTER.exec("b", "update stock2 set qty = qty + 6 where id = 1");
        CLUSTER.converge("stock2");
        assertEquals(List.of(List.of("21")), CLUSTER.rows("c", "select qty::text from stock2"));
    }

    @Test
    void manualHoldsAConflictUntilAnOperatorTakesANode() {
        TableRef t = table("doc", "id integer primary key, v text");
        CLUSTER.execAll("insert into doc values (1, 'init'), (2, 'init')");
        CLUSTER.addSync("doc", "manual", List.of(), t);
        CLUSTER.exec("a", "update doc set v = 'a' where id = 1", "update doc set v = 'a alone' where id = 2");
        CLUSTER.exec("b", "update doc set v = 'b' where id = 1");
        CLUSTER.settle("doc");
        CLUSTER.round("doc");

        // held: each node keeps its row; the key is out of replication; other keys replicate
        assertEquals(List.of(List.of("a")), CLUSTER.rows("a", "select v from doc where id = 1"));
        assertEquals(List.of(List.of("b")), CLUSTER.rows("b", "select v from doc where id = 1"));
        assertEquals(List.of(List.of("a alone")), CLUSTER.rows("b", "select v from doc where id = 2"));
        ConflictJournal journal = new ConflictJournal(CLUSTER.control().dsl());
        List<ConflictEntry> open = journal.list("doc", t, null, true, 100);
        assertEquals(1, open.size(), "one open entry, however many rounds saw it: " + open);
        assertEquals(ConflictState.OPEN, open.get(0).status());
        assertNull(open.get(0).winner());

        journal.resolve(open.get(0).id(), "b", null);
        CLUSTER.converge("doc");
        assertAll("doc", "1=b", "2=a alone");
        ConflictEntry done = journal.entry(open.get(0).id()).orElseThrow();
        assertEquals(ConflictState.APPLIED, done.status());
        assertEquals("take b", done.resolvedBy());
        assertEquals(0, journal.countOpen("doc"));
    }

    @Test
    void manualResolveWithAnOperatorRowAndAStaleChoiceHeldAgain() {
        TableRef t = table("doc2", "id integer primary key, v text, n integer");
        CLUSTER.execAll("insert into doc2 values (1, 'init', 0), (2, 'init', 0)");
        CLUSTER.addSync("doc2", "manual", List.of(), t);
        CLUSTER.exec("a", "update doc2 set v = 'a' where id in (1, 2)");
        CLUSTER.exec("c", "update doc2 set v = 'c' where id in (1, 2)");
        CLUSTER.settle("doc2");
        ConflictJournal journal = new ConflictJournal(CLUSTER.control().dsl());
        List<ConflictEntry> open = journal.list("doc2", t, null, true, 100);
        assertEquals(2, open.size(), open.toString());
        ConflictEntry one = open.stream().filter(e -> e.key().equals(List.of("1"))).findFirst().orElseThrow();
        ConflictEntry two = open.stream().filter(e -> e.key().equals(List.of("2"))).findFirst().orElseThrow();

        UsageException wrongKey = assertThrows(UsageException.class,
                () -> journal.resolve(one.id(), null, "{\"id\": 1, \"v\": \"x\"}"));
        assertTrue(wrongKey.getMessage().contains("missing: [n]"), wrongKey.getMessage());
        journal.resolve(one.id(), null, "{\"id\": 1, \"v\": \"operator\", \"n\": 7}");
        journal.resolve(two.id(), "a", null);
        // c changes key 2 again before any round applies the choice: the choice no longer covers it
        CLUSTER.exec("c", "update doc2 set v = 'c again' where id = 2");
        CLUSTER.settle("doc2");

        assertEquals(List.of(List.of("1", "operator", "7")), CLUSTER.rows("b", "select id::text, v, n::text from doc2 where id = 1"));
        for (String n : CLUSTER.nodes()) {
            assertEquals(List.of(List.of("operator")), CLUSTER.rows(n, "select v from doc2 where id = 1"), "node " + n);
        }
        ConflictEntry reopened = journal.entry(two.id()).orElseThrow();
        assertEquals(ConflictState.OPEN, reopened.status(), "a choice made before a side changed again is held again");
        assertTrue(reopened.sides().stream().anyMatch(s -> s.row() != null && "c again".equals(s.row().get("v"))), reopened.toString());
        assertEquals(List.of(List.of("c again")), CLUSTER.rows("c", "select v from doc2 where id = 2"));
        assertEquals(List.of(List.of("a")), CLUSTER.rows("a", "select v from doc2 where id = 2"));

        // retention purges decided and applied entries, never open ones
        int purged = journal.purge("doc2", Duration.ofMillis(1), Instant.now().plus(Duration.ofDays(1)));
        assertEquals(1, purged, "the applied entry of key 1");
        assertEquals(1, journal.countOpen("doc2"));
        UsageException notOpen = assertThrows(UsageException.class, () -> journal.resolve(one.id(), "a", null));
        assertTrue(notOpen.getMessage().contains("no conflict"), notOpen.getMessage());
    }

    @Test
    void aFailingCustomResolverStallsOnlyItsTable() {
        TableRef good = table("good", "id integer primary key, v text");
        TableRef bad = table("bad", "id integer primary key, v text");
        CLUSTER.execAll("insert into good values (1, 'init')", "insert into bad values (1, 'init')");
        CLUSTER.installer().addSync(new SyncSettings("mixed", nodeIds(),
                List.of(new TableSettings(good, null, false, null), new TableSettings(bad, "custom:" + ThrowingResolver.class.getName(),
                        false, null)), "latest", List.of(), Duration.ofSeconds(1), false), null, (x, from, to, done, total) -> { });
        CLUSTER.exec("a", "update good set v = 'a' where id = 1", "update bad set v = 'a' where id = 1");
        CLUSTER.exec("b", "update good set v = 'b' where id = 1", "update bad set v = 'b' where id = 1");

        var report = CLUSTER.round("mixed");
        assertEquals(1, report.errors().size(), report.errors().toString());
        assertTrue(report.errors().get(0).contains("public.bad") && report.errors().get(0).contains("deliberately broken"),
                report.errors().get(0));
        assertAll("good", "1=b");
        assertEquals(List.of(List.of("a")), CLUSTER.rows("a", "select v from bad"), "the failing table is left as it was");
    }

    @Test
    void aResolverErrorOnALaterChunkFailsTheRoundInsteadOfHangingIt() {
        TableRef t = table("later", "id integer primary key, v text");
        CLUSTER.execAll("insert into later select g, 'init' from generate_series(1, 1500) g");
        CLUSTER.installer().addSync(new SyncSettings("later", nodeIds(),
                List.of(new TableSettings(t, "custom:" + LaterChunkErrorResolver.class.getName(), false, null)), "latest", List.of(),
                Duration.ofSeconds(1), false), null, (x, from, to, done, total) -> { });
        CLUSTER.exec("a", "update later set v = 'a'");
        CLUSTER.exec("b", "update later set v = 'b'");

        // the stream's second chunk is decided on the pipeline's thread, where the resolver's Error used to end the
        // thread without a word and leave the round waiting for the chunk
        var report = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> CLUSTER.round("later"));
        assertEquals(1, report.errors().size(), report.errors().toString());
        assertTrue(report.errors().get(0).contains("public.later") && report.errors().get(0).contains("deliberately broken on a later chunk"),
                report.errors().get(0));
        assertEquals(List.of(List.of("500")), CLUSTER.rows("a", "select count(*)::text from later where id > 1000 and v = 'a'"),
                "keys of the failed chunk are left as they were on a");
        assertEquals(List.of(List.of("500")), CLUSTER.rows("b", "select count(*)::text from later where id > 1000 and v = 'b'"),
                "keys of the failed chunk are left as they were on b");
    }

    private static List<dev.ibex.conflict.NodeId> nodeIds() {
        return List.of(new dev.ibex.conflict.NodeId("a", 1), new dev.ibex.conflict.NodeId("b", 2), new dev.ibex.conflict.NodeId("c", 3));
    }

    private static SyncSettings withTableStrategy(SyncSettings s, String strategy) {
        return s.withTables(s.tables().stream().map(x -> new TableSettings(x.table(), strategy, x.paused(), x.pauseReason())).toList());
    }

    private static TableRef table(String name, String columns) {
        CLUSTER.execAll("create table " + name + " (" + columns + ")");
        return new TableRef("public", name);
    }

    private static void assertQty(int id, int qty) {
        for (String n : CLUSTER.nodes()) {
            assertEquals(List.of(List.of(Integer.toString(qty))), CLUSTER.rows(n, "select qty::text from stock where id = ?", id),
                    "qty of row " + id + " on node " + n);
        }
    }

    /** Every node holds exactly these rows, written as "id=v". */
    private static void assertAll(String table, String... rows) {
        for (String n : CLUSTER.nodes()) {
            assertEquals(List.of(rows), CLUSTER.rows(n, "select id || '=' || v from " + table + " order by id").stream()
                    .map(r -> r.get(0)).toList(), "rows of " + table + " on node " + n);
        }
    }
}
