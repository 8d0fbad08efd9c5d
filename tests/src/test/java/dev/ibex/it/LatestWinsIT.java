package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.journal.ConflictEntry;
import dev.ibex.engine.journal.ConflictEntry.SideEntry;
import dev.ibex.engine.round.RoundReport;
import java.time.Instant;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Invariant 3, per-row latest-wins: among concurrent changes to a row the one with the greatest
 * change timestamp wins on every node, row by row (not one node per table), and the conflict is
 * journaled with every side; a change made after seeing another supersedes it with no conflict,
 * whatever the clocks say; equal timestamps go to the node whose name sorts first.
 *
 * <p>Two tests skew a node's clock by rewriting the change timestamp in its ledger right after the
 * change, which is what a node with a fast or slow clock would have written there.
 */
class LatestWinsIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b");

    @Test
    void concurrentUpdatesGoToTheLaterWriteRowByRowAndEachConflictIsJournaled() {
        TableRef table = createTable("lw", 3);

        CLUSTER.exec("a", "update lw set v = 'a first' where id = 1");
        CLUSTER.exec("b", "update lw set v = 'b later' where id = 1", "update lw set v = 'b first' where id = 2");
        CLUSTER.exec("a", "update lw set v = 'a later' where id = 2");
        List<RoundReport> rounds = CLUSTER.converge("lw");

        assertRows("lw", List.of(row(1, "b later"), row(2, "a later"), row(3, "init")));
        assertEquals(2, rounds.stream().mapToLong(RoundReport::conflicts).sum(), "conflicts counted by the rounds");
        Map<String, ConflictEntry> byKey = byKey(CLUSTER.conflicts("lw", table));
        assertEquals(2, byKey.size(), "one journal entry per conflicting row: " + byKey);
        assertConflict(byKey.get("1"), "b", Map.of("a", "a first", "b", "b later"));
        assertConflict(byKey.get("2"), "a", Map.of("a", "a later", "b", "b first"));
    }

    @Test
    void concurrentDeleteAndUpdateGoToTheLaterOfTheTwo() {
        TableRef table = createTable("lwdel", 2);

        CLUSTER.exec("a", "delete from lwdel where id = 1");
        CLUSTER.exec("b", "update lwdel set v = 'b updated after a deleted' where id = 1", "update lwdel set v = 'b updated' where id = 2");
        CLUSTER.exec("a", "delete from lwdel where id = 2");
        CLUSTER.converge("lwdel");

        assertRows("lwdel", List.of(row(1, "b updated after a deleted")));
        Map<String, ConflictEntry> byKey = byKey(CLUSTER.conflicts("lwdel", table));
        assertEquals(2, byKey.size(), "one journal entry per conflicting row: " + byKey);
        assertConflict(byKey.get("1"), "b", Collections.singletonMap("a", null));
        assertConflict(byKey.get("1"), "b", Map.of("b", "b updated after a deleted"));
        assertConflict(byKey.get("2"), "a", Map.of("b", "b updated"));
        assertConflict(byKey.get("2"), "a", Collections.singletonMap("a", null));
    }

    @Test
    void causallyLaterChangeWinsWithoutConflictEvenWhenItsClockIsBehind() {
        TableRef table = createTable("causal", 1);
        // the test reads a's ledger entry after the first rounds: they must not purge it
        CLUSTER.control().syncs().update(CLUSTER.control().syncs().get("causal").withLedgerRetention(java.time.Duration.ofDays(1),
                SyncSettings.DEFAULT_NODE_RETENTION));

        CLUSTER.exec("a", "update causal set v = 'a, clock an hour fast' where id = 1");
        CLUSTER.setChangeStamp("a", table, "id = 1", "l.ibex_ts + interval '1 hour'");
        assertEquals(0, sumConflicts(CLUSTER.converge("causal")));
        assertRows("causal", List.of(row(1, "a, clock an hour fast")));

        CLUSTER.exec("b", "update causal set v = 'b, after seeing a' where id = 1");
        Instant aStamp = stamp("a", table);
        Instant bStamp = stamp("b", table);
        assertTrue(bStamp.isBefore(aStamp), "b's change carries an older stamp (" + bStamp + ") than a's (" + aStamp + ")");
        assertEquals(0, sumConflicts(CLUSTER.converge("causal")), "no conflict: b's change followed a's");

        assertRows("causal", List.of(row(1, "b, after seeing a")));
        assertEquals(List.of(), CLUSTER.conflicts("causal", table));
    }

    @Test
    void equalTimestampsGoToTheNodeWhoseNameSortsFirst() {
        TableRef table = createTable("tie", 1);
        CLUSTER.exec("a", "update tie set v = 'a' where id = 1");
        CLUSTER.setChangeStamp("a", table, "id = 1", "'2030-01-01 00:00:00+00'");
        CLUSTER.exec("b", "update tie set v = 'b, later in real time' where id = 1");
        CLUSTER.setChangeStamp("b", table, "id = 1", "'2030-01-01 00:00:00+00'");
        CLUSTER.converge("tie");

        assertRows("tie", List.of(row(1, "a")));
        List<ConflictEntry> conflicts = CLUSTER.conflicts("tie", table);
        assertEquals(1, conflicts.size(), "conflicts: " + conflicts);
        assertConflict(conflicts.get(0), "a", Map.of("a", "a", "b", "b, later in real time"));
    }

    private static TableRef createTable(String name, int rows) {
        CLUSTER.execAll("create table " + name + " (id bigint primary key, v text not null)",
                "insert into " + name + " select g, 'init' from generate_series(1, " + rows + ") g");
        TableRef table = TableRef.parse(name);
        CLUSTER.addSync(name, table);
        return table;
    }

    private static Instant stamp(String node, TableRef table) {
        long micros = CLUSTER.changeStamp(node, table, "id = 1");
        return Instant.ofEpochSecond(Math.floorDiv(micros, 1_000_000), Math.floorMod(micros, 1_000_000) * 1000L);
    }

    private static long sumConflicts(List<RoundReport> rounds) {
        return rounds.stream().mapToLong(RoundReport::conflicts).sum();
    }

    private static Map<String, ConflictEntry> byKey(List<ConflictEntry> entries) {
        return entries.stream().collect(Collectors.toMap(e -> String.join(",", e.key()), e -> e));
    }

    /**
     * Asserts the winner and, for each named node, the value of {@code v} on that node's side
     * ({@code null}: the side had deleted the row); the winner's side has the latest stamp.
     */
    private static void assertConflict(ConflictEntry entry, String winner, Map<String, String> sideValues) {
        assertEquals("latest", entry.strategy(), "strategy of " + entry);
        assertEquals(winner, entry.winner(), "winner of " + entry);
        for (Map.Entry<String, String> expected : sideValues.entrySet()) {
            SideEntry side = entry.sides().stream().filter(s -> s.node().equals(expected.getKey())).findFirst()
                    .orElseThrow(() -> new AssertionError("no side of node " + expected.getKey() + " in " + entry));
            assertEquals(expected.getValue(), side.row() == null ? null : side.row().get("v"), "side " + side + " of " + entry);
        }
        Comparator<SideEntry> byTime = Comparator.comparing(s -> s.changedAt() == null ? Instant.MIN : Instant.parse(s.changedAt()));
        SideEntry latest = entry.sides().stream().max(byTime).orElseThrow();
        SideEntry won = entry.sides().stream().filter(s -> s.node().equals(winner)).findFirst().orElseThrow();
        assertEquals(0, byTime.compare(latest, won), "the winner's side has the latest change time: " + entry);
    }

    private static void assertRows(String table, List<List<String>> expected) {
        for (String node : CLUSTER.nodes()) {
            assertEquals(expected, CLUSTER.rows(node, "select id, v from " + table + " order by id"), table + " on node " + node);
        }
    }

    private static List<String> row(long id, String v) {
        return List.of(Long.toString(id), v);
    }
}
