package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.runtime.Engine;
import dev.ibex.testkit.Await;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Invariants 1 and 2 under load: three threads, one per node, make 10 000 random inserts, updates
 * and deletes over ids 1..500 while the engine runs. Ids 1..300 are written on every node; the
 * rest are split between the nodes, so that many ids are written on one node only. Once the
 * writes stop, the nodes converge to identical tables; every id written on one node only holds
 * that node's last write; every other id holds the last write of one of the nodes that wrote it.
 */
class ConcurrentWritesIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b", "c");
    private static final int WRITES = 10_000;
    private static final int SHARED = 300;
    private static final int IDS = 500;

    /** A node's last effective write to an id: a row, or {@code null} values for a delete. */
    private record Effect(String val, String note) {
        static final Effect DELETED = new Effect(null, null);
        static final Effect INITIAL = new Effect("0", "init");

        Optional<List<String>> row() {
            return val == null ? Optional.empty() : Optional.of(List.of(val, note));
        }
    }

    /** What one writer thread effectively did: its last effect per id. */
    private record Writes(String node, Map<Long, Effect> last, int attempted) {
    }

    @Test
    void randomWritesOnThreeNodesWithTheEngineRunningConverge() throws Exception {
        CLUSTER.execAll("create table cw (id bigint primary key, val bigint not null, note text not null)",
                "insert into cw select g, 0, 'init' from generate_series(1, " + IDS + ") g");
        TableRef table = TableRef.parse("cw");
        CLUSTER.addSync("cw", table);
        long seed = System.nanoTime();

        List<Writes> writes = new ArrayList<>();
        Instant writesEnded;
        try (Engine engine = CLUSTER.startEngine()) {
            Await.until("the engine's first round", Duration.ofSeconds(30), () -> roundsStartedBefore(Instant.now(), false) > 0);
            ExecutorService threads = Executors.newFixedThreadPool(3);
            try {
                List<CompletableFuture<Writes>> running = new ArrayList<>();
                for (int n = 0; n < 3; n++) {
                    int ordinal = n + 1;
                    int count = WRITES / 3 + (n < WRITES % 3 ? 1 : 0);
                    running.add(CompletableFuture.supplyAsync(() -> write(ordinal, count, new Random(seed + ordinal)), threads));
                }
                for (CompletableFuture<Writes> w : running) {
                    writes.add(w.get(120, TimeUnit.SECONDS));
                }
            } finally {
                threads.shutdownNow();
            }
            writesEnded = Instant.now();
            CLUSTER.awaitIdentical("cw", Duration.ofSeconds(60));
        }
        assertEquals(WRITES, writes.stream().mapToInt(Writes::attempted).sum());
        assertTrue(roundsStartedBefore(writesEnded, true) > 0, "the engine replicated while the writes ran");

        CLUSTER.converge("cw");
        Map<Long, List<String>> finalRows = finalRows();
        assertSingleWriterIdsHoldTheirLastWrite(writes, finalRows, seed);
        assertSharedIdsHoldTheLastWriteOfAWriter(writes, finalRows, seed);
        assertTrue(CLUSTER.conflicts("cw", table).size() > 0, "concurrent writes to shared ids were journaled as conflicts");
    }

    /** Writes on node {@code ordinal} ("a", "b", "c") and returns its last effect per id. */
    private static Writes write(int ordinal, int count, Random random) {
        String node = CLUSTER.nodes().get(ordinal - 1);
        int exclusive = (IDS - SHARED) / 3;
        long ownFrom = SHARED + 1 + (long) (ordinal - 1) * exclusive;
        long ownTo = ordinal == 3 ? IDS : ownFrom + exclusive - 1;
        Map<Long, Effect> last = new HashMap<>();
        try (Connection c = CLUSTER.connect(node);
             PreparedStatement insert = c.prepareStatement("insert into cw values (?, ?, ?) on conflict (id) do nothing");
             PreparedStatement update = c.prepareStatement("update cw set val = ?, note = ? where id = ?");
             PreparedStatement delete = c.prepareStatement("delete from cw where id = ?")) {
            for (int i = 1; i <= count; i++) {
                long id = random.nextInt(10) < 7 ? 1 + random.nextInt(SHARED) : ownFrom + random.nextInt((int) (ownTo - ownFrom + 1));
                long val = (long) i * 10 + ordinal;
                String note = node + ":" + i;
                int op = random.nextInt(100);
                if (op < 30) {
                    insert.setLong(1, id);
                    insert.setLong(2, val);
                    insert.setString(3, note);
                    record(last, id, insert.executeUpdate(), new Effect(Long.toString(val), note));
                } else if (op < 75) {
                    update.setLong(1, val);
                    update.setString(2, note);
                    update.setLong(3, id);
                    record(last, id, update.executeUpdate(), new Effect(Long.toString(val), note));
                } else {
                    delete.setLong(1, id);
                    record(last, id, delete.executeUpdate(), Effect.DELETED);
                }
            }
        } catch (SQLException e) {
            throw new AssertionError("an application write on node " + node + " failed while the engine ran", e);
        }
        return new Writes(node, last, count);
    }

    private static void record(Map<Long, Effect> last, long id, int rowsChanged, Effect effect) {
        if (rowsChanged == 1) {
            last.put(id, effect);
        }
    }

    private static void assertSingleWriterIdsHoldTheirLastWrite(List<Writes> writes, Map<Long, List<String>> finalRows, long seed) {
        Map<Long, Optional<List<String>>> expected = new TreeMap<>();
        Map<Long, Optional<List<String>>> actual = new TreeMap<>();
        for (long id = 1; id <= IDS; id++) {
            List<Writes> writers = writersOf(writes, id);
            if (writers.size() == 1) {
                expected.put(id, writers.get(0).last().get(id).row());
                actual.put(id, Optional.ofNullable(finalRows.get(id)));
            }
        }
        assertTrue(expected.size() >= 150, "ids written on a single node: " + expected.size() + " (seed " + seed + ")");
        assertEquals(expected, actual, "ids written on a single node hold its last write (seed " + seed + ")");
    }

    private static void assertSharedIdsHoldTheLastWriteOfAWriter(List<Writes> writes, Map<Long, List<String>> finalRows, long seed) {
        List<String> wrong = new ArrayList<>();
        for (long id = 1; id <= IDS; id++) {
            List<Writes> writers = writersOf(writes, id);
            Set<Optional<List<String>>> candidates = new HashSet<>();
            for (Writes w : writers) {
                candidates.add(w.last().get(id).row());
            }
            if (writers.isEmpty()) {
                candidates.add(Effect.INITIAL.row());
            }
            Optional<List<String>> found = Optional.ofNullable(finalRows.get(id));
            if (!candidates.contains(found)) {
                wrong.add("id " + id + ": " + found + " is none of the last writes " + candidates);
            }
        }
        assertEquals(List.of(), wrong, "final rows that are no node's last write (seed " + seed + ")");
    }

    private static List<Writes> writersOf(List<Writes> writes, long id) {
        return writes.stream().filter(w -> w.last().containsKey(id)).toList();
    }

    private static Map<Long, List<String>> finalRows() {
        Map<Long, List<String>> rows = new HashMap<>();
        for (List<String> r : CLUSTER.rows("a", "select id, val, note from cw")) {
            rows.put(Long.parseLong(r.get(0)), List.of(r.get(1), r.get(2)));
        }
        return rows;
    }

    /** Rounds of the sync that started before {@code instant} (and applied rows, if asked). */
    private static long roundsStartedBefore(Instant instant, boolean appliedRows) {
        try (Connection c = CLUSTER.control().dataSource().getConnection();
             PreparedStatement ps = c.prepareStatement("select count(*) from ibex.round where sync_name = 'cw' and started_at < ?"
                     + (appliedRows ? " and rows_applied > 0" : ""))) {
            ps.setObject(1, OffsetDateTime.ofInstant(instant, ZoneOffset.UTC));
            try (var rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        } catch (SQLException e) {
            throw new AssertionError("reading the round history", e);
        }
    }
}
