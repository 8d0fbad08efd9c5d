package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.conflict.VersionVector;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.copy.NodeCopier;
import dev.ibex.engine.journal.LedgerPurges;
import dev.ibex.engine.journal.RoundHistory;
import dev.ibex.engine.round.RoundReport;
import dev.ibex.engine.round.RoundRunner;
import dev.ibex.engine.status.SyncStatus;
import dev.ibex.testkit.Await;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Ledgers stay small: entries that every node holds at the same version are purged (tombstones
 * included) and replication goes on as before; a purge cut short on some nodes is finished before
 * the next decision; a node away longer than the node retention is left out (so purging goes on
 * without it), status says so, and 'ibex node resync' brings it back from a healthy node.
 */
class LedgerRetentionIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b", "c").withProxies();
    private static final Duration NEVER = Duration.ofDays(365);

    @Test
    void entriesEveryNodeHoldsArePurgedAndReplicationGoesOn() {
        TableRef t = table("purged", 5000, NEVER);
        CLUSTER.exec("a", "update purged set v = 'a' where id <= 4000");
        CLUSTER.exec("b", "delete from purged where id > 4500");
        CLUSTER.converge("purged");
        Map<String, long[]> before = ledgers("purged");
        assertEquals(4500, before.get("c")[0], "every changed key has an entry on every node, deletes as tombstones");

        setPurgeInterval("purged", Duration.ZERO);
        List<RoundReport> purging = untilPurged(CLUSTER.rounds(), "purged");
        assertEquals(3 * 4500, purging.stream().mapToLong(RoundReport::ledgerPurged).sum(),
                "entries purged on a, b and c: " + purging.stream().map(Cluster::describe).toList());
        Map<String, long[]> after = ledgers("purged");
        for (String n : CLUSTER.nodes()) {
            CLUSTER.exec(n, "vacuum " + Cluster.ledger(t));
        }
        System.out.printf("LedgerRetentionIT: ledger entries/bytes per node before purging %s, after %s, after the next vacuum %s%n",
                text(before), text(after), text(ledgers("purged")));
        for (String n : CLUSTER.nodes()) {
            assertEquals(0, after.get(n)[0], "entries left on " + n);
            assertEquals(0, CLUSTER.count(n, "select count(*) from " + Cluster.ledger(t) + " l where not exists "
                    + "(select 1 from purged r where r.id = l.id)"), "tombstones on " + n);
        }

        // purged keys replicate as any other: a change after the purge dominates, concurrent ones conflict once
        CLUSTER.exec("c", "update purged set v = 'c after the purge' where id = 1");
        CLUSTER.exec("a", "insert into purged values (4600, 'a re-inserts a purged tombstone')");
        assertEquals(0, CLUSTER.converge("purged").stream().mapToLong(RoundReport::conflicts).sum());
        assertEquals(List.of(List.of("c after the purge")), CLUSTER.rows("b", "select v from purged where id = 1"));
        assertEquals(List.of(List.of("a re-inserts a purged tombstone")), CLUSTER.rows("c", "select v from purged where id = 4600"));
        CLUSTER.exec("a", "update purged set v = 'a, concurrent' where id = 2");
        CLUSTER.exec("b", "update purged set v = 'b, concurrent and later' where id = 2");
        assertEquals(1, CLUSTER.converge("purged").stream().mapToLong(RoundReport::conflicts).sum());
        assertEquals(List.of(List.of("b, concurrent and later")), CLUSTER.rows("c", "select v from purged where id = 2"));
    }

    /**
     * A purge larger than a round's budget goes on in the next rounds from where it stopped, each
     * round reporting more work until it is done: with a zero budget, one chunk ({@link
     * RoundRunner#PURGE_CHUNK} keys) per round. The first chunk's keys stay (c holds other versions
     * of them, set behind Ibex's back), so a purge that started over each round would never get past
     * them.
     */
    @Test
    void aLargePurgeIsSpreadOverRoundsAndResumesWhereItStopped() {
        int chunk = RoundRunner.PURGE_CHUNK;
        TableRef t = table("spread", chunk * 7 / 2, NEVER);
        CLUSTER.exec("a", "update spread set v = 'a'");
        CLUSTER.converge("spread");
        CLUSTER.exec("c", "update " + Cluster.ledger(t) + " set ibex_vv = '{7,7,7}' where id <= " + chunk);
        setPurgeInterval("spread", Duration.ZERO);

        List<RoundReport> rounds = untilPurged(CLUSTER.rounds(Duration.ZERO), "spread");
        assertEquals(List.of(0L, 3L * chunk, 3L * chunk, 3L * (chunk / 2)), rounds.stream().map(RoundReport::ledgerPurged).toList(),
                "entries purged per round: " + rounds.stream().map(Cluster::describe).toList());
        assertEquals(List.of(true, true, true, false), rounds.stream().map(RoundReport::moreWork).toList(), "more work after each round");
        for (String n : CLUSTER.nodes()) {
            assertEquals(List.of(List.of(String.valueOf(chunk), "1", String.valueOf(chunk))), CLUSTER.rows(n,
                    "select count(*), min(id), max(id) from " + Cluster.ledger(t)), "entries left on " + n);
        }
    }

    /**
     * An entry whose row base is pending (merging strategies) stays, though every node holds its
     * version: the base is what the next merge starts from. Here it is set on the first node only,
     * whose ledger the purge walks; the sync's other entries go.
     */
    @Test
    void anEntryWithAPendingBaseIsNotPurged() {
        TableRef t = table("based", 10, NEVER);
        CLUSTER.exec("a", "update based set v = 'a'");
        CLUSTER.converge("based");
        CLUSTER.exec("a", "update " + Cluster.ledger(t) + " set ibex_base = '{x}' where id = 3");
        setPurgeInterval("based", Duration.ZERO);

        untilPurged(CLUSTER.rounds(Duration.ZERO), "based");
        for (String n : CLUSTER.nodes()) {
            assertEquals(List.of(List.of("3")), CLUSTER.rows(n, "select id from " + Cluster.ledger(t)), "entries left on " + n);
        }
    }

    /**
     * Versions start over once a key is purged, so a node can write a key again with the very
     * version just purged. Here b's ledger gets the entry back (a test trigger re-inserts it) right
     * after the purge deletes it: the purge must count b as done, not leave a pending batch whose
     * finishing would delete b's new entry, losing its change for the other nodes
     * (ConcurrentWritesIT once ended with a row on b that no ledger knew of).
     */
    @Test
    void anEntryWrittenAgainWithThePurgedVersionIsNotPurged() {
        TableRef t = table("again", 10, NEVER);
        CLUSTER.exec("b", "update again set v = 'b' where id = 1");
        CLUSTER.converge("again");
        String ledger = Cluster.ledger(t);
        CLUSTER.exec("b", "create table again_flag (done boolean)",
                "create function again_rewrite() returns trigger language plpgsql as $$ begin "
                        + "if not exists (select 1 from again_flag) then insert into again_flag values (true); "
                        + "insert into " + ledger + " (id, ibex_txid, ibex_ts, ibex_origin, ibex_vv, ibex_local) values "
                        + "(old.id, pg_current_xact_id(), old.ibex_ts, old.ibex_origin, old.ibex_vv, old.ibex_local); end if; "
                        + "return null; end $$",
                "create trigger again_rewrite after delete on " + ledger + " for each row execute function again_rewrite()",
                // the purge deletes on the round's writer, a replica session: the trigger must fire there too
                "alter table " + ledger + " enable always trigger again_rewrite");
        setPurgeInterval("again", Duration.ZERO);

        RoundReport purging = CLUSTER.round("again");
        assertEquals(1, CLUSTER.count("b", "select count(*) from again_flag"), "the entry was written again");
        assertEquals(1, CLUSTER.count("b", "select count(*) from " + ledger + " where id = 1"),
                "b's new entry outlives the purge: " + Cluster.describe(purging));
        assertEquals(0, CLUSTER.control().dsl().fetchCount(org.jooq.impl.DSL.table("ibex.ledger_purge")),
                "no purge is left pending, whose finishing would delete b's new entry");
        CLUSTER.converge("again");
    }

    /**
     * The state a crash in the middle of a purge leaves: node a deleted a batch of entries, b and c
     * did not. a then changes a purged key. Under priority b > a, had b kept its old version, a's
     * change would look concurrent with it and lose to b; the round first finishes the purge on b
     * and c, so a's change is seen as the newer one and reaches every node with no conflict.
     */
    @Test
    void aPurgeCutShortIsFinishedBeforeTheNextDecision() {
        CLUSTER.execAll("create table halfpurged (id integer primary key, v text)",
                "insert into halfpurged select g, 'init' from generate_series(1, 20) g");
        TableRef t = TableRef.parse("halfpurged");
        CLUSTER.addSync("halfpurged", "priority", List.of("b", "a", "c"), t);
        setPurgeInterval("halfpurged", NEVER);
        CLUSTER.exec("b", "update halfpurged set v = 'b' where id <= 10");
        CLUSTER.converge("halfpurged");

        List<List<String>> keys = new ArrayList<>();
        List<VersionVector> versions = new ArrayList<>();
        for (List<String> row : CLUSTER.rows("a", "select id::text, array_to_string(ibex.vv_trim(ibex_vv), ',') from "
                + Cluster.ledger(t) + " order by id")) {
            keys.add(List.of(row.get(0)));
            versions.add(VersionVector.of(java.util.Arrays.stream(row.get(1).split(",")).mapToLong(Long::parseLong).toArray()));
        }
        assertEquals(10, keys.size());
        // recorded as the round that crashed would have, at the sync's epoch
        dev.ibex.engine.fence.Fence fence = CLUSTER.rounds().ownership().owner("halfpurged")
                .map(o -> new dev.ibex.engine.fence.Fence("halfpurged", o.epoch())).orElseThrow();
        new LedgerPurges(CLUSTER.control().dsl()).open(fence, t, keys, versions, List.of("a", "b", "c"));
        CLUSTER.exec("a", "delete from " + Cluster.ledger(t));
        // the batch stays recorded for a too (the crash came before a's deletion was recorded): finishing is idempotent

        CLUSTER.exec("a", "update halfpurged set v = 'a after its purge' where id = 3");
        List<RoundReport> rounds = CLUSTER.converge("halfpurged");
        assertEquals(0, rounds.stream().mapToLong(RoundReport::conflicts).sum(), "no conflict: " + rounds.stream().map(Cluster::describe).toList());
        for (String n : CLUSTER.nodes()) {
            assertEquals(List.of(List.of("a after its purge")), CLUSTER.rows(n, "select v from halfpurged where id = 3"), "on " + n);
        }
        assertEquals(0, CLUSTER.control().dsl().fetchCount(org.jooq.impl.DSL.table("ibex.ledger_purge")),
                "the interrupted purge is finished and forgotten");
    }

    @Test
    void aNodeAwayPastItsRetentionIsLeftOutAndResyncBringsItBack() {
        TableRef t = table("away", 100, Duration.ZERO);
        CLUSTER.control().syncs().update(CLUSTER.control().syncs().get("away").withLedgerRetention(Duration.ZERO, Duration.ofSeconds(2)));
        CLUSTER.converge("away");

        CLUSTER.proxy("c").cut();
        try {
            CLUSTER.exec("a", "update away set v = 'a while c is away' where id <= 50");
            CLUSTER.exec("c", "update away set v = 'c while away, to be discarded' where id > 90");
            SyncSettings marked = Await.value("a round marks c as needing a resync once it is away for 2 s", Duration.ofSeconds(30), () -> {
                CLUSTER.round("away");
                return CLUSTER.control().syncs().get("away");
            }, s -> s.resyncNeeded().containsKey("c"));
            assertTrue(marked.resyncNeeded().get("c").contains("node retention (2s)"), marked.resyncNeeded().toString());
        } finally {
            CLUSTER.proxy("c").heal();
        }
        // c answers again, but rounds leave it out; a and b purge among themselves
        RoundReport r = CLUSTER.settle("away").get(0);
        assertTrue(!r.nodes().containsKey("c"), "c is not in the round: " + Cluster.describe(r));
        assertEquals(0, CLUSTER.count("a", "select count(*) from " + Cluster.ledger(t)), "a's ledger is purged without c");
        SyncStatus status = CLUSTER.status("away");
        assertTrue(status.warnings().stream().anyMatch(w -> w.contains("node c needs a resync") && w.contains("ibex node resync c")),
                status.warnings().toString());
        assertEquals(List.of(List.of("init")), CLUSTER.rows("c", "select v from away where id = 1"), "c has not caught up");

        java.time.OffsetDateTime beforeResync = java.time.OffsetDateTime.now(java.time.ZoneOffset.UTC);
        List<NodeCopier.Copied> copied = CLUSTER.resync().resync("c", "away", null, (table, from, to, done, total) -> { });
        assertEquals(1, copied.size());
        assertEquals(100, copied.get(0).rows());
        assertTrue(CLUSTER.control().syncs().get("away").resyncNeeded().isEmpty(), "c is back in the sync");
        // c's retention counts from the resync, not from when it went away: a first round that did
        // not reach it would otherwise mark it again at once, and rounds would leave it out silently
        assertTrue(!new RoundHistory(CLUSTER.control().dsl()).lastReached("away", "c").orElseThrow().isBefore(beforeResync),
                "the resync counts as reaching c");
        // the rounds that ran while c waited for its resync forgot that it was unreachable: the next one tries it at once
        RoundReport first = CLUSTER.round("away");
        assertTrue(first.nodes().get("c").reachable() && first.errors().isEmpty(), "the first round after the resync reaches c: "
                + Cluster.describe(first));
        CLUSTER.converge("away");
        assertEquals(0, CLUSTER.count("c", "select count(*) from away where v like 'c while away%'"), "c's changes while away are discarded");
        assertEquals(50, CLUSTER.count("c", "select count(*) from away where v = 'a while c is away'"));

        // c replicates both ways again, and its next change is newer than what it copied
        CLUSTER.exec("c", "update away set v = 'c after the resync' where id = 1");
        CLUSTER.exec("b", "update away set v = 'b after the resync' where id = 2");
        assertEquals(0, CLUSTER.converge("away").stream().mapToLong(RoundReport::conflicts).sum());
        assertEquals(List.of(List.of("c after the resync")), CLUSTER.rows("a", "select v from away where id = 1"));
        assertEquals(List.of(List.of("b after the resync")), CLUSTER.rows("c", "select v from away where id = 2"));
    }

    private static TableRef table(String name, int rows, Duration purgeInterval) {
        CLUSTER.execAll("create table " + name + " (id integer primary key, v text)",
                "insert into " + name + " select g, 'init' from generate_series(1, " + rows + ") g");
        TableRef t = TableRef.parse(name);
        CLUSTER.addSync(name, t);
        setPurgeInterval(name, purgeInterval);
        return t;
    }

    /** Runs rounds until one reports no more work (a purge cut short by its budget reports more), at most 20. */
    private static List<RoundReport> untilPurged(dev.ibex.engine.runtime.RoundService rounds, String sync) {
        List<RoundReport> reports = new ArrayList<>();
        do {
            reports.add(rounds.run(sync));
        } while (reports.get(reports.size() - 1).moreWork() && reports.size() < 20);
        return reports;
    }

    private static void setPurgeInterval(String sync, Duration every) {
        SyncSettings s = CLUSTER.control().syncs().get(sync);
        CLUSTER.control().syncs().update(s.withLedgerRetention(every, s.nodeRetention()));
    }

    /** Per node: ledger entries and bytes, as status shows them. */
    private static Map<String, long[]> ledgers(String sync) {
        Map<String, long[]> m = new java.util.TreeMap<>();
        for (SyncStatus.NodeStatus n : CLUSTER.status(sync).nodes()) {
            m.put(n.node(), new long[] {n.ledgerRows(), n.ledgerBytes()});
        }
        return m;
    }

    private static String text(Map<String, long[]> m) {
        StringBuilder b = new StringBuilder();
        m.forEach((n, v) -> b.append(n).append('=').append(v[0]).append('/').append(v[1]).append(' '));
        return b.toString().trim();
    }
}
