package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.journal.ConflictEntry;
import dev.ibex.engine.journal.ConflictEntry.SideEntry;
import dev.ibex.engine.runtime.Engine;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * One sync across three PostgreSQL majors, 15, 17 and 18, each node on its own server: the state
 * of a rolling upgrade of PostgreSQL, one node at a time, under Ibex. With writers on every node
 * while the engine runs, the nodes converge, a key written on one node only holds that node's
 * last write, and every other key holds the last write of one of its writers; a conflict is
 * decided by latest-wins, row by row, the same on every node, and journaled with every side.
 */
class MixedVersionsIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b", "c").withMajors(15, 17, 18);
    private static final int WRITES_PER_NODE = 500;
    private static final int SHARED = 80;
    private static final int OWN = 40;
    private static final int IDS = SHARED + 3 * OWN;

    @Test
    void eachNodeRunsItsOwnMajor() {
        Map<String, Integer> majors = new TreeMap<>();
        for (String n : CLUSTER.nodes()) {
            majors.put(n, Integer.parseInt(CLUSTER.rows(n, "select current_setting('server_version_num')").get(0).get(0)) / 10000);
        }
        assertEquals(Map.of("a", 15, "b", 17, "c", 18), majors);
    }

    @Test
    void concurrentWritesOnThreeMajorsConverge() throws Exception {
        CLUSTER.execAll("create table mv (id integer primary key, v text not null)",
                "insert into mv select g, 'init' from generate_series(1, " + IDS + ") g");
        TableRef table = TableRef.parse("mv");
        CLUSTER.addSync("mv", table);
        long seed = System.nanoTime();

        Map<String, Map<Integer, String>> lastWrites = new TreeMap<>();
        try (Engine engine = CLUSTER.startEngine()) {
            ExecutorService threads = Executors.newFixedThreadPool(3);
            try {
                Map<String, CompletableFuture<Map<Integer, String>>> running = new TreeMap<>();
                for (int i = 0; i < 3; i++) {
                    int ordinal = i;
                    running.put(CLUSTER.nodes().get(i),
                            CompletableFuture.supplyAsync(() -> write(ordinal, new Random(seed + ordinal)), threads));
                }
                for (Map.Entry<String, CompletableFuture<Map<Integer, String>>> w : running.entrySet()) {
                    lastWrites.put(w.getKey(), w.getValue().get(60, TimeUnit.SECONDS));
                }
            } finally {
                threads.shutdownNow();
            }
            CLUSTER.awaitIdentical("mv", Duration.ofSeconds(45));
        }
        CLUSTER.converge("mv");

        Map<Integer, String> rows = new HashMap<>();
        CLUSTER.rows("a", "select id, v from mv").forEach(r -> rows.put(Integer.parseInt(r.get(0)), r.get(1)));
        List<String> wrong = new ArrayList<>();
        int soleWriterKeys = 0;
        for (int id = 1; id <= IDS; id++) {
            int key = id;
            List<String> writers = lastWrites.keySet().stream().filter(n -> lastWrites.get(n).containsKey(key)).toList();
            Set<String> candidates = writers.stream().map(n -> lastWrites.get(n).get(key)).collect(Collectors.toCollection(HashSet::new));
            if (writers.isEmpty()) {
                candidates.add("init");
            }
            soleWriterKeys += writers.size() == 1 ? 1 : 0;
            if (!candidates.contains(rows.get(id))) {
                wrong.add("id " + id + " holds " + rows.get(id) + ", written last by " + writers + " as " + candidates);
            }
        }
        assertTrue(soleWriterKeys >= OWN, "keys written on one node only: " + soleWriterKeys + " (seed " + seed + ")");
        assertEquals(List.of(), wrong, "rows that are not the last write of one of their writers (seed " + seed + ")");
        assertTrue(CLUSTER.conflicts("mv", table).size() > 0, "concurrent writes to shared keys were journaled as conflicts");
    }

    @Test
    void aConflictAcrossMajorsGoesToTheLatestChangeRowByRowOnEveryNode() {
        CLUSTER.execAll("create table lw (id integer primary key, v text not null)", "insert into lw values (1, 'init'), (2, 'init')");
        TableRef table = TableRef.parse("lw");
        CLUSTER.addSync("lw", table);

        CLUSTER.exec("a", "update lw set v = 'a first' where id = 1");
        CLUSTER.exec("c", "update lw set v = 'c first' where id = 2");
        CLUSTER.exec("b", "update lw set v = 'b second' where id = 1", "update lw set v = 'b second' where id = 2");
        CLUSTER.exec("c", "update lw set v = 'c last' where id = 1");
        CLUSTER.exec("a", "update lw set v = 'a last' where id = 2");
        CLUSTER.converge("lw");

        for (String n : CLUSTER.nodes()) {
            assertEquals(List.of(List.of("1", "c last"), List.of("2", "a last")), CLUSTER.rows(n, "select id, v from lw order by id"),
                    "lw on node " + n);
        }
        Map<String, ConflictEntry> byKey = CLUSTER.conflicts("lw", table).stream()
                .collect(Collectors.toMap(e -> String.join(",", e.key()), e -> e));
        assertEquals(Map.of("1", "c", "2", "a"), byKey.entrySet().stream()
                .collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().winner())), "winners in the journal: " + byKey);
        assertEquals(Map.of("a", "a first", "b", "b second", "c", "c last"), sides(byKey.get("1")));
        assertEquals(Map.of("a", "a last", "b", "b second", "c", "c first"), sides(byKey.get("2")));
    }

    /** Writes on node {@code ordinal} and returns its last effective write per id (null: deleted). */
    private static Map<Integer, String> write(int ordinal, Random random) {
        String node = CLUSTER.nodes().get(ordinal);
        int ownFrom = SHARED + 1 + ordinal * OWN;
        Map<Integer, String> last = new HashMap<>();
        try (Connection c = CLUSTER.connect(node);
             PreparedStatement upsert = c.prepareStatement("insert into mv values (?, ?) on conflict (id) do update set v = excluded.v");
             PreparedStatement delete = c.prepareStatement("delete from mv where id = ?")) {
            for (int i = 1; i <= WRITES_PER_NODE; i++) {
                int id = random.nextInt(10) < 6 ? 1 + random.nextInt(SHARED) : ownFrom + random.nextInt(OWN);
                if (random.nextInt(5) == 0) {
                    delete.setInt(1, id);
                    if (delete.executeUpdate() == 1) {
                        last.put(id, null);
                    }
                } else {
                    String v = node + ":" + i;
                    upsert.setInt(1, id);
                    upsert.setString(2, v);
                    upsert.executeUpdate();
                    last.put(id, v);
                }
            }
        } catch (SQLException e) {
            throw new AssertionError("an application write on node " + node + " failed while the engine ran", e);
        }
        return last;
    }

    /** Each side's value of {@code v} in a journal entry, by node. */
    private static Map<String, String> sides(ConflictEntry entry) {
        assertEquals("latest", entry.strategy(), "strategy of " + entry);
        return entry.sides().stream().collect(Collectors.toMap(SideEntry::node, s -> String.valueOf(s.row().get("v"))));
    }
}
