package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.journal.ConflictEntry;
import dev.ibex.engine.round.RoundReport;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Upgrade in place (issue 12): nodes that run the capture before the change log (schema version 3:
 * triggers that upsert a versioned ledger row per key in the writer's transaction) hold changes that
 * no round has replicated yet, some of them already reconciled into some targets (as an engine of
 * that version leaves them: rows, ledger entries and watermarks). The new engine upgrades each node
 * through its migration when it first reaches it; afterwards every waiting change replicates, none
 * is applied twice (each write adds {@code id} to a balance once), the conflict between two of them
 * is decided and journaled once, and new writes go through the new capture.
 */
class UpgradeIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b", "c");
    private static final String SYNC = "up";

    @Test
    void changesWaitingInTheOldLedgersReplicateOnceAfterTheUpgrade() {
        CLUSTER.execAll("create table up (id bigint primary key, balance bigint not null, note text not null)",
                "insert into up select g, 0, 'init' from generate_series(1, 100) g");
        TableRef t = TableRef.parse("up");
        String ledger = Cluster.ledger(t);
        Path v3 = schemaVersion3();
        for (String n : CLUSTER.nodes()) {
            Flyway.configure().dataSource(CLUSTER.url(n), null, null).locations("filesystem:" + v3).schemas("ibex").createSchemas(true)
                    .table("ibex_schema_history").load().migrate();
            CLUSTER.exec(n, "select ibex.install_capture('public', 'up', '" + SYNC + "', '" + t.ledgerName() + "', "
                    + (CLUSTER.nodes().indexOf(n) + 1) + ", false)");
        }
        CLUSTER.control().syncs().add(new SyncSettings(SYNC, List.of(new NodeId("a", 1), new NodeId("b", 2), new NodeId("c", 3)),
                List.of(new TableSettings(t, null, false, null)), "latest", List.of(), Duration.ofSeconds(5), false));

        CLUSTER.exec("a", "update up set balance = balance + id, note = 'a1' where id between 1 and 10");
        CLUSTER.exec("a", "update up set balance = balance + id, note = 'a2' where id between 11 and 20");
        CLUSTER.exec("b", "update up set balance = balance + id, note = 'b' where id between 21 and 30",
                "insert into up select g, g, 'b new' from generate_series(101, 110) g");
        CLUSTER.exec("c", "delete from up where id between 91 and 95");
        CLUSTER.exec("a", "update up set balance = balance + id, note = 'a, earlier' where id = 50");
        CLUSTER.exec("b", "update up set balance = balance + id, note = 'b, later' where id = 50");

        // as an engine of the old version leaves a's first transaction: reconciled into b and c
        String second = CLUSTER.rows("a", "select ibex_txid::text from " + ledger + " where id = 11").get(0).get(0);
        List<List<String>> rows = CLUSTER.rows("a", "select id::text, balance::text, note from up where id between 1 and 10");
        List<List<String>> entries = CLUSTER.rows("a", "select id::text, ibex_ts::text, ibex_vv::text from " + ledger + " where id <= 10");
        for (String n : List.of("b", "c")) {
            for (List<String> r : rows) {
                CLUSTER.exec(n, "set session_replication_role = replica",
                        "update up set balance = " + r.get(1) + ", note = '" + r.get(2) + "' where id = " + r.get(0),
                        "set session_replication_role = origin");
            }
            for (List<String> e : entries) {
                CLUSTER.exec(n, "insert into " + ledger + " (id, ibex_ts, ibex_origin, ibex_vv) values (" + e.get(0) + ", '" + e.get(1)
                        + "', 1, '" + e.get(2) + "') on conflict (id) do update set ibex_vv = excluded.ibex_vv");
            }
            CLUSTER.exec(n, "insert into ibex.watermark (ledger_name, source_node, boundary) values ('" + t.ledgerName()
                    + "', 'a', '" + second + "')");
        }
        assertEquals(3, CLUSTER.count("a", "select max(version::int) from ibex.ibex_schema_history"), "a runs the old schema");

        List<RoundReport> rounds = CLUSTER.converge(SYNC);
        assertTrue(CLUSTER.count("a", "select max(version::int) from ibex.ibex_schema_history") >= 4, "a was upgraded");
        for (String n : CLUSTER.nodes()) {
            assertEquals(List.of(List.of("105", "0", "10", "10", "10", "10", "1")), CLUSTER.rows(n, "select count(*), "
                    + "count(*) filter (where balance not in (0, id)), count(*) filter (where note = 'a1'), "
                    + "count(*) filter (where note = 'a2'), count(*) filter (where note = 'b'), count(*) filter (where note = 'b new'), "
                    + "count(*) filter (where note = 'b, later') from up"), "rows on " + n + " after " + rounds.size() + " rounds");
        }
        List<ConflictEntry> conflicts = CLUSTER.conflicts(SYNC, t);
        assertEquals(1, conflicts.size(), "one conflict, journaled once: " + conflicts);
        assertEquals("b", conflicts.get(0).winner());

        CLUSTER.exec("c", "update up set note = 'c, after the upgrade' where id = 60");
        CLUSTER.converge(SYNC);
        assertEquals(List.of(List.of("c, after the upgrade")), CLUSTER.rows("a", "select note from up where id = 60"));
        assertEquals(1, CLUSTER.count("c", "select count(*) from pg_trigger where tgname = 'ibex_capture_key'"), "new capture on c");
    }

    /** The node migrations up to version 3, as a Flyway location of their own (Flyway applies repeatable migrations whatever the target). */
    private static Path schemaVersion3() {
        try {
            Path dir = Files.createTempDirectory("ibex-node-v3");
            for (String f : List.of("V1__node.sql", "V2__clock_and_bases.sql", "V3__vv_trim.sql")) {
                try (InputStream in = UpgradeIT.class.getResourceAsStream("/db/node/" + f)) {
                    Files.copy(in, dir.resolve(f));
                }
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
