package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.UsageException;
import dev.ibex.conflict.NodeId;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.runtime.Engine;
import dev.ibex.testkit.Await;
import dev.ibex.testkit.Sql;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 14, item 5: a list-partitioned table replicates as one table on three nodes while the
 * engine runs. One writer, on a node drawn at random for each statement, writes through the root
 * and straight into partitions, updates rows, deletes them and moves them between partitions by
 * changing their region (a key column). Half-way, a partition is created with {@code PARTITION OF}
 * and another attached with {@code ATTACH PARTITION} on every node, and written to. The writes are
 * sequential, so each one is later (in time and in change stamp) than every write before it: under
 * the latest strategy, every key ends with its last write, which the test's model holds. At the
 * end every node holds exactly the model, every partition holds exactly the rows its bound says,
 * and a TRUNCATE of the root replicates.
 */
class PartitionedIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b", "c");
    private static final TableRef PM = TableRef.parse("pm");
    private static final int IDS = 40;

    /** The model: (region, id) to v, the last write of each key that exists. */
    private final Map<String, String> model = new TreeMap<>();

    @Test
    void writesThroughTheRootAndIntoPartitionsAndRowsMovingBetweenPartitionsReplicate() throws Exception {
        CLUSTER.execAll("create table pm (region text not null, id int not null, v text, primary key (region, id)) partition by list (region)",
                "create table pm_east partition of pm for values in ('east')",
                "create table pm_west partition of pm for values in ('west')");
        CLUSTER.addSync("pm", PM);
        assertEquals(List.of(List.of("ibex_capture_del"), List.of("ibex_capture_ins"), List.of("ibex_capture_key"),
                        List.of("ibex_capture_upd")),
                CLUSTER.rows("b", "select tgname from pg_trigger where tgrelid = 'pm_east'::regclass order by 1"),
                "the root's row triggers are cloned onto each partition");
        long seed = System.nanoTime();
        Random random = new Random(seed);
        List<Connection> conns = new ArrayList<>();
        try (Engine engine = CLUSTER.startEngine()) {
            for (String n : CLUSTER.nodes()) {
                conns.add(CLUSTER.connect(n));
            }
            write(conns, random, List.of("east", "west"), 600);
            CLUSTER.execAll("create table pm_north partition of pm for values in ('north')",
                    "create table pm_south (region text not null, id int not null, v text)",
                    "alter table pm attach partition pm_south for values in ('south')");
            write(conns, random, List.of("east", "west", "north", "south"), 900);
            CLUSTER.awaitIdentical("pm", Duration.ofSeconds(60));
        } finally {
            for (Connection c : conns) {
                c.close();
            }
        }
        CLUSTER.converge("pm");
        for (String n : CLUSTER.nodes()) {
            assertEquals(model.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).sorted().toList(),
                    sorted(CLUSTER.rows(n, "select region || ':' || id || '=' || coalesce(v, 'null') from pm")),
                    "node " + n + " holds every key's last write (seed " + seed + ")");
            for (String region : List.of("east", "west", "north", "south")) {
                assertEquals(model.keySet().stream().filter(k -> k.startsWith(region + ":")).sorted().toList(),
                        sorted(CLUSTER.rows(n, "select region || ':' || id from only pm_" + region)),
                        "partition pm_" + region + " on node " + n + " holds exactly the rows of its region");
            }
        }
        assertTrue(model.keySet().stream().anyMatch(k -> k.startsWith("south:")), "rows were written to the attached partition");

        CLUSTER.exec("c", "truncate pm");
        CLUSTER.converge("pm");
        for (String n : CLUSTER.nodes()) {
            assertEquals(0, CLUSTER.count(n, "select count(*) from pm"), "TRUNCATE of the root on c emptied the table on " + n);
        }
    }

    @Test
    void aPartitionOrASubPartitionedTableIsRefusedAndNothingIsInstalled() {
        CLUSTER.execAll("create table sp (region text not null, id int not null, primary key (region, id)) partition by list (region)",
                "create table sp_east partition of sp for values in ('east')",
                "create table sp_deep (region text not null, id int not null, primary key (region, id)) partition by list (region)",
                "create table sp_deep_west partition of sp_deep for values in ('west') partition by range (id)",
                "create table sp_deep_west_1 partition of sp_deep_west for values from (0) to (100)");
        UsageException partition = assertThrows(UsageException.class, () -> CLUSTER.addSync("sp_part", TableRef.parse("sp_east")));
        assertTrue(partition.getMessage().contains("add the partitioned table public.sp instead"), partition.getMessage());
        UsageException deep = assertThrows(UsageException.class, () -> CLUSTER.addSync("sp_deep", TableRef.parse("sp_deep")));
        assertTrue(deep.getMessage().contains("table public.sp_deep is sub-partitioned"), deep.getMessage());
        for (String n : CLUSTER.nodes()) {
            assertEquals(0, CLUSTER.count(n, "select count(*) from pg_trigger where tgname like 'ibex%' and tgrelid::regclass::text like 'sp%'"),
                    "no capture installed on node " + n);
        }
        assertTrue(CLUSTER.control().tables().syncOf(TableRef.parse("sp_east")).isEmpty());
        assertTrue(!CLUSTER.control().syncs().exists("sp_part") && !CLUSTER.control().syncs().exists("sp_deep"));
    }

    @Test
    void aReplicatedTableAttachedAsAPartitionIsPausedAndItsRootRefused() {
        CLUSTER.execAll("create table sr (id int primary key, v text) partition by range (id)",
                "create table sr_1 (id int primary key, v text)");
        TableRef part = TableRef.parse("sr_1");
        CLUSTER.addSync("sr1", part);
        CLUSTER.execAll("alter table sr attach partition sr_1 for values from (0) to (100)", "insert into sr_1 values (1, 'x')");
        CLUSTER.round("sr1");
        TableSettings paused = CLUSTER.control().syncs().get("sr1").tables().get(0);
        assertTrue(paused.paused() && paused.pauseReason().contains("table public.sr_1 is a partition of public.sr on node a: "
                + "add the partitioned table public.sr instead"), () -> "paused with the reason: " + paused);
        UsageException root = assertThrows(UsageException.class, () -> CLUSTER.addSync("srroot", TableRef.parse("sr")));
        assertEquals("partition public.sr_1 of table public.sr is replicated by sync sr1 as a table of its own; remove it with "
                + "'ibex table remove sr1 public.sr_1' before adding the partitioned table", root.getMessage());
        assertTrue(!CLUSTER.control().syncs().exists("srroot"));
    }

    @Test
    void aResolverThatNeedsRowBasesMergesConcurrentChangesOfAPartitionedTable() {
        CLUSTER.execAll("create table ps (region text not null, id int not null, qty int, primary key (region, id)) partition by list (region)",
                "create table ps_east partition of ps for values in ('east')",
                "create table ps_west partition of ps for values in ('west')",
                "insert into ps values ('east', 1, 10), ('west', 1, 100)");
        CLUSTER.addSync("ps", "custom:dev.ibex.conflict.examples.CounterDeltaResolver:qty", List.of(), TableRef.parse("ps"));
        CLUSTER.exec("a", "update ps set qty = qty + 1 where region = 'east' and id = 1");
        CLUSTER.exec("b", "update ps_east set qty = qty + 2 where id = 1", "update ps_west set qty = qty - 5 where id = 1");
        CLUSTER.exec("c", "update ps set qty = qty + 3 where id = 1");
        CLUSTER.converge("ps");
        for (String n : CLUSTER.nodes()) {
            assertEquals(List.of(List.of("east", "16"), List.of("west", "98")), CLUSTER.rows(n, "select region, qty::text from ps order by 1"),
                    "every node adds up the increments made through the root and into partitions: " + n);
        }
    }

    @Test
    void anInitialCopyFillsEachPartitionOfATableKeyedByAUniqueIndex() {
        CLUSTER.execAll("create table pc (k int not null, v text, constraint pc_k unique (k)) partition by range (k)",
                "create table pc_low partition of pc for values from (0) to (100)",
                "create table pc_high partition of pc for values from (100) to (200)");
        CLUSTER.exec("a", "insert into pc select g, 'from a' from generate_series(1, 199, 7) g");
        TableRef pc = TableRef.parse("pc");
        CLUSTER.installer().addSync(new SyncSettings("pc", CLUSTER.nodes().stream().map(n -> new NodeId(n, CLUSTER.nodes().indexOf(n) + 1))
                .toList(), List.of(new TableSettings(pc, null, false, null)), "latest", List.of(), Duration.ofSeconds(1), false), "a",
                (t, from, to, done, total) -> { });
        assertEquals("unique index pc_k (k)", CLUSTER.status("pc").tables().get(0).key());
        CLUSTER.exec("b", "update pc_high set v = 'from b' where k = 113");
        CLUSTER.converge("pc");
        for (String n : CLUSTER.nodes()) {
            assertEquals(List.of(List.of("15", "14")), CLUSTER.rows(n, "select (select count(*) from only pc_low)::text, "
                    + "(select count(*) from only pc_high)::text"), "each partition of pc on node " + n + " holds the rows of its range");
            assertEquals(List.of(List.of("from b")), CLUSTER.rows(n, "select v from pc where k = 113"));
        }
        assertEquals(1, CLUSTER.checksums(CLUSTER.nodes(), pc).values().stream().distinct().count(), "validate's checksums agree");
    }

    @Test
    void aNodeWithoutThePartitionForARowPausesTheTableUntilThePartitionExists() {
        CLUSTER.execAll("create table pr (region text not null, id int not null, v text, primary key (region, id)) partition by list (region)",
                "create table pr_east partition of pr for values in ('east')");
        CLUSTER.exec("a", "create table pr_west partition of pr for values in ('west')");
        TableRef pr = TableRef.parse("pr");
        CLUSTER.addSync("pr", pr);
        CLUSTER.exec("a", "insert into pr values ('west', 1, 'only a has west'), ('east', 1, 'east')");
        CLUSTER.round("pr");
        TableSettings paused = CLUSTER.control().syncs().get("pr").tables().get(0);
        assertTrue(paused.paused() && paused.pauseReason().contains("rejected") && paused.pauseReason().contains("partition"),
                () -> "paused with the node's error: " + paused);
        CLUSTER.exec("b", "create table pr_west partition of pr for values in ('west')");
        CLUSTER.exec("c", "create table pr_west partition of pr for values in ('west')");
        CLUSTER.control().tables().setPaused("pr", List.of(pr), false, null);
        CLUSTER.converge("pr");
        assertEquals(List.of(List.of("only a has west")), CLUSTER.rows("c", "select v from only pr_west"), "nothing lost while paused");
    }

    /** {@code count} statements, each on a node drawn at random, recorded in the model when they changed a row. */
    private void write(List<Connection> conns, Random random, List<String> regions, int count) throws SQLException {
        for (int i = 1; i <= count; i++) {
            if (i % 150 == 0) {
                awaitNextRound();
            }
            Connection c = conns.get(random.nextInt(conns.size()));
            String region = regions.get(random.nextInt(regions.size()));
            int id = 1 + random.nextInt(IDS);
            String key = region + ":" + id;
            String v = "v" + i;
            boolean direct = random.nextBoolean();
            String rel = direct ? "pm_" + region : "pm";
            int op = random.nextInt(100);
            if (op < 35) {
                if (Sql.update(c, "insert into " + rel + " values (?, ?, ?) on conflict (region, id) do update set v = excluded.v",
                        region, id, v) > 0) {
                    model.put(key, v);
                }
            } else if (op < 65) {
                if (Sql.update(c, "update " + rel + " set v = ? where region = ? and id = ?", v, region, id) > 0) {
                    model.put(key, v);
                }
            } else if (op < 80) {
                if (Sql.update(c, "delete from " + rel + " where region = ? and id = ?", region, id) > 0) {
                    model.remove(key);
                }
            } else {
                move(c, random, regions, region, id, v);
            }
        }
    }

    /** Moves a row to another region (another partition), unless its new key is taken on that node. */
    private void move(Connection c, Random random, List<String> regions, String region, int id, String v) throws SQLException {
        String to = regions.get(random.nextInt(regions.size()));
        if (to.equals(region) || Sql.count(c, "select count(*) from pm where region = ? and id = ?", to, id) > 0) {
            return;
        }
        if (Sql.updateUnlessTaken(c, "update pm set region = ?, v = ? where region = ? and id = ?", to, v, region, id) > 0) {
            model.remove(region + ":" + id);
            model.put(to + ":" + id, v);
        }
    }

    /** Waits until the engine has finished a round of sync pm that finished after this call, so rounds run between the writes. */
    private static void awaitNextRound() {
        java.time.OffsetDateTime now = java.time.OffsetDateTime.now();
        Await.until("a round of sync pm", Duration.ofSeconds(30), () -> CLUSTER.control().dsl().fetchValue(
                "select count(*) from ibex.round where sync_name = 'pm' and finished_at > ?::timestamptz", now.toString())
                instanceof Number n && n.longValue() > 0);
    }

    private static List<String> sorted(List<List<String>> rows) {
        return rows.stream().map(r -> r.get(0)).sorted().toList();
    }
}
