package dev.ibex.cliit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ibex.engine.config.TableRef;
import dev.ibex.testkit.Await;
import dev.ibex.testkit.PgServer;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer.OrderAnnotation;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestInstance.Lifecycle;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * {@code ibex sync remove-node} (issue 14) on three real servers with an engine running: bad input
 * changes nothing; a node that is down leaves the sync with a warning naming what is left on it,
 * which a {@code --cleanup-only} run removes once it is back; and a node removed while every node
 * writes keeps its rows and its writes, loses Ibex entirely, and the two others converge with
 * every write they took, stop exchanging changes with it and purge their ledgers again.
 */
@TestInstance(Lifecycle.PER_CLASS)
@TestMethodOrder(OrderAnnotation.class)
class RemoveNodeIT {
    private static final Duration SETTLE = Duration.ofSeconds(30);

    private PgServer a;
    private PgServer b;
    private PgServer c;
    private String control;
    private InProcessEngine engine;

    @BeforeAll
    void start() {
        a = PgServer.start("rmnode-a");
        b = PgServer.start("rmnode-b");
        c = PgServer.start("rmnode-c");
        for (PgServer server : List.of(a, b, c)) {
            server.execute("postgres", "create table t (id bigint primary key, v text)", "create table u (id bigint primary key, v text)");
        }
        a.createDatabase("ibex_control");
        control = a.jdbcUrl("ibex_control");
        ok("setup");
        ok("node", "add", "a", "--url", a.jdbcUrl("postgres"));
        ok("node", "add", "b", "--url", b.jdbcUrl("postgres"));
        ok("node", "add", "c", "--url", c.jdbcUrl("postgres"));
        ok("node", "add", "b-again", "--url", b.jdbcUrl("postgres"));
        ok("sync", "add", "s", "--nodes", "a,b,c", "--tables", "t", "--interval", "1s", "--purge-interval", "0s");
        ok("sync", "add", "s2", "--nodes", "a,b,c", "--tables", "u", "--interval", "1s", "--purge-interval", "0s");
        engine = InProcessEngine.start(control);
    }

    @AfterAll
    void stop() {
        try (PgServer x = a; PgServer y = b; PgServer z = c; InProcessEngine e = engine) {
            // closed in reverse order
        }
    }

    @Test
    @Order(1)
    void badInputIsRefusedAndChangesNothing() {
        refused("nosuch", "sync", "remove-node", "nosuch", "c");
        refused("nosuch", "sync", "remove-node", "s", "nosuch");
        refused("not in sync s", "sync", "remove-node", "s", "b-again");
        refused("--cleanup-only", "sync", "remove-node", "s", "c", "--cleanup-only");

        // a node whose URL reaches a member's database is not cleaned: that would remove the member's capture
        String before = state();
        IbexCli.Result r = run("sync", "remove-node", "s", "b-again", "--cleanup-only");
        assertEquals(1, r.code(), r::toString);
        assertTrue(r.err().startsWith("ibex: warning: node b-again not cleaned: its URL reaches the database of node b"), r::toString);
        assertEquals(before, state(), r::toString);
    }

    @Test
    @Order(2)
    void aNodeThatIsDownLeavesWithAWarningAndIsCleanedWhenBack() {
        a.execute("postgres", "insert into u select g, 'a' from generate_series(1, 100) g");
        c.execute("postgres", "insert into u values (500, 'c')");
        Await.until("u replicated to c and c's row to a and b", SETTLE, () -> c.count("postgres", "select count(*) from u") == 101
                && a.count("postgres", "select count(*) from u where id = 500") == 1 && b.count("postgres", "select count(*) from u where id = 500") == 1);
        String marks = "select count(*) from ibex.watermark w join ibex.capture k using (ledger_name) where k.sync_name = 's2' and w.source_node = 'c'";
        Await.until("watermarks of c's changes on a and b", SETTLE, () -> a.count("postgres", marks) == 1 && b.count("postgres", marks) == 1);
        c.stop();
        // a purge interrupted before it reached c (recorded as c's rounds would): it must not wait for c any more
        a.execute("ibex_control", "insert into ibex.ledger_purge (sync_name, table_schema, table_name, entries, nodes_left) "
                + "values ('s2', 'public', 'u', '{\"keys\": [], \"versions\": []}', '[\"c\"]')");
        a.execute("postgres", "update u set v = 'a while c is down' where id <= 50");
        IbexCli.Result r = run("sync", "remove-node", "s2", "c");
        assertEquals(0, r.code(), r::toString);
        assertTrue(r.out().startsWith("node c removed from sync s2 (nodes now [a, b])"), r::toString);
        List<String> warnings = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, warnings.size(), r::toString);
        String w = warnings.get(0);
        assertTrue(w.startsWith("ibex: warning: node c not cleaned (") && w.contains("public.u")
                && w.contains("'ibex sync remove-node s2 c --cleanup-only'") && w.contains("select ibex.remove_capture('public', 'u')"), w);
        assertEquals("[\"a\",\"b\"]", syncDoc("s2").path("nodes").toString());
        assertEquals(0, a.count("postgres", marks) + b.count("postgres", marks), "watermarks of c left on a or b");
        assertEquals(0, a.count("ibex_control", "select count(*) from ibex.ledger_purge where sync_name = 's2'"), "purges waiting for c");

        // the two others go on and purge what c never got
        String ledgerName = new TableRef("public", "u").ledgerName();
        String ledger = "ibex." + ledgerName;
        Await.until("a's update on b", SETTLE, () -> b.count("postgres", "select count(*) from u where v = 'a while c is down'") == 50);
        Await.until("u's ledgers purged on a and b", SETTLE, () -> a.count("postgres", "select count(*) from " + ledger) == 0
                && b.count("postgres", "select count(*) from " + ledger) == 0);

        c.restart();
        assertTrue(ibexTriggers("u") > 0, "capture left on c while it was down");
        JsonNode done = ok("sync", "remove-node", "s2", "c", "--cleanup-only", "--json").json();
        assertFalse(done.path("membershipRemoved").asBoolean(), done::toString);
        for (JsonNode n : done.path("cleanups")) {
            assertTrue(n.path("cleaned").asBoolean(), done::toString);
        }
        assertEquals(0, ibexTriggers("u"), "capture of u left on c");
        assertEquals(0, c.count("postgres", "select count(*) from pg_proc where pronamespace = 'ibex'::regnamespace and proname in ('fold_"
                + ledgerName + "', 'cap_" + ledgerName + "_new')"), "fold and capture functions of u left on c");
        assertEquals(0, c.count("postgres", "select count(*) from ibex.capture where sync_name = 's2'"));
        assertEquals(1, c.count("postgres", "select count(*) from ibex.capture where sync_name = 's'"), "sync s untouched on c");
        assertEquals(100, c.count("postgres", "select count(*) from u where v = 'a'"), "c keeps its rows");
        c.execute("postgres", "insert into u values (1000, 'c after leaving')");
        a.execute("postgres", "insert into u values (1001, 'a after c left')");
        Await.until("a's row on b", SETTLE, () -> b.count("postgres", "select count(*) from u where id = 1001") == 1);
        assertEquals(0, a.count("postgres", "select count(*) from u where id = 1000"), "c's write reached a");
        assertEquals(0, c.count("postgres", "select count(*) from u where id = 1001"), "a's write reached c");
        refused("two nodes", "sync", "remove-node", "s2", "b");
    }

    @Test
    @Order(3)
    void aNodeRemovedWhileEveryNodeWritesKeepsItsDataAndTheOthersConverge() {
        Map<String, Writer> writers = new HashMap<>();
        writers.put("a", new Writer(a, 1_000_000));
        writers.put("b", new Writer(b, 2_000_000));
        writers.put("c", new Writer(c, 3_000_000));
        JsonNode removal;
        try {
            Await.until("every writer to commit some rows", SETTLE, () -> writers.values().stream().allMatch(x -> x.own.size() > 20));
            Await.until("a and b to publish what c applied of theirs", SETTLE, () -> List.of(a, b).stream()
                    .allMatch(n -> n.count("postgres", "select count(*) from ibex.applied where target_node = 'c' and sync_name = 's'") > 0));
            removal = ok("sync", "remove-node", "s", "c", "--json").json();
            writers.get("c").left = true;
            Writer cw = writers.get("c");
            Await.until("c to commit rows after leaving", SETTLE, () -> cw.afterLeaving.size() > 10);
        } finally {
            writers.values().forEach(Writer::close);
        }
        writers.values().forEach(Writer::check);
        assertTrue(removal.path("membershipRemoved").asBoolean(), removal::toString);
        for (JsonNode n : removal.path("cleanups")) {
            assertTrue(n.path("cleaned").asBoolean(), removal::toString);
            if (n.path("node").asText().equals("c")) {
                assertTrue(n.path("done").toString().contains("schema ibex dropped"), removal::toString);
            }
        }

        // a and b converge with every write they took
        Await.until("a and b to converge with their writes", SETTLE, () -> {
            Map<Long, String> onA = rows(a);
            return onA.equals(rows(b)) && writers.get("a").presentIn(onA) && writers.get("b").presentIn(onA);
        });
        Map<Long, String> onA = rows(a);
        for (long id = 1; id <= Writer.SHARED; id++) {
            String v = onA.get(id);
            assertTrue(v == null || writers.values().stream().anyMatch(x -> x.written.contains(v)), "shared row " + id + ": " + v);
        }
        // c keeps its data, takes writes, and exchanges nothing with a and b any more
        assertTrue(writers.get("c").presentIn(rows(c)), "c lost some of its own writes");
        for (long id : writers.get("c").afterLeaving) {
            assertFalse(onA.containsKey(id), "c's row " + id + ", written after it left, reached a");
        }
        a.execute("postgres", "insert into t values (-1, 'a after c left')");
        Await.until("a's row on b", SETTLE, () -> b.count("postgres", "select count(*) from t where id = -1") == 1);
        assertEquals(0, c.count("postgres", "select count(*) from t where id = -1"), "a's write reached c");
        for (PgServer n : List.of(a, b)) {
            assertEquals(0, n.count("postgres", "select count(*) from ibex.watermark w join ibex.capture k using (ledger_name) "
                    + "where k.sync_name = 's' and w.source_node = 'c'"), "watermarks of c left on " + n.name());
            assertEquals(0, n.count("postgres", "select count(*) from ibex.applied where sync_name = 's' and target_node = 'c'"),
                    "ibex.applied row for c left on " + n.name());
        }
        assertEquals(0, c.count("postgres", "select count(*) from pg_trigger where tgname like 'ibex%'"), "ibex triggers left on c");
        assertEquals(0, c.count("postgres", "select count(*) from pg_namespace where nspname = 'ibex'"), "schema ibex left on c");

        // status shows the two nodes, and their ledgers are purged again
        JsonNode status = ok("status", "s", "--json").json().get(0);
        assertEquals(2, status.path("nodes").size(), status::toString);
        String ledger = "ibex." + new TableRef("public", "t").ledgerName();
        Await.until("t's ledgers purged on a and b", SETTLE, () -> a.count("postgres", "select count(*) from " + ledger) == 0
                && b.count("postgres", "select count(*) from " + ledger) == 0);
        assertEquals("[\"a\",\"b\"]", syncDoc("s").path("nodes").toString());
    }

    /**
     * Writes on one node until closed, in autocommit: inserts rows of its own (ids from {@code base}
     * up), updates some of them, and upserts the shared rows 1..{@link #SHARED}; remembers the last
     * committed value of each of its own rows and every value it wrote.
     */
    private static final class Writer implements AutoCloseable {
        static final long SHARED = 20;
        final Map<Long, String> own = new ConcurrentHashMap<>();
        final Set<String> written = ConcurrentHashMap.newKeySet();
        final Set<Long> afterLeaving = ConcurrentHashMap.newKeySet();
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        final Thread thread;
        volatile boolean left;
        volatile boolean stop;

        Writer(PgServer server, long base) {
            thread = new Thread(() -> write(server, base), "writer-" + server.name());
            thread.start();
        }

        private void write(PgServer server, long base) {
            try (Connection conn = server.connect("postgres");
                 PreparedStatement upsert = conn.prepareStatement("insert into t values (?, ?) on conflict (id) do update set v = excluded.v")) {
                long next = base;
                for (int i = 0; !stop; i++) {
                    boolean after = left;
                    long id = switch (i % 3) {
                        case 0 -> next++;
                        case 1 -> next == base ? next++ : base + (i * 7L) % (next - base);
                        default -> 1 + i % SHARED;
                    };
                    String v = server.name() + "-" + i;
                    upsert.setLong(1, id);
                    upsert.setString(2, v);
                    upsert.executeUpdate();
                    written.add(v);
                    if (id >= base) {
                        own.put(id, v);
                        if (after && i % 3 == 0) {
                            afterLeaving.add(id);
                        }
                    }
                    LockSupport.parkNanos(Duration.ofMillis(3).toNanos());
                }
            } catch (SQLException | RuntimeException e) {
                failure.set(e);
            }
        }

        boolean presentIn(Map<Long, String> rows) {
            return own.entrySet().stream().allMatch(e -> e.getValue().equals(rows.get(e.getKey())));
        }

        void check() {
            assertNull(failure.get(), () -> "a writer failed: " + failure.get());
        }

        @Override
        public void close() {
            stop = true;
            try {
                thread.join(Duration.ofSeconds(30).toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static Map<Long, String> rows(PgServer server) {
        Map<Long, String> out = new HashMap<>();
        server.rows("postgres", "select id::text, v from t").forEach(r -> out.put(Long.parseLong(r.get(0)), r.get(1)));
        return out;
    }

    private long ibexTriggers(String table) {
        return c.count("postgres", "select count(*) from pg_trigger where tgname like 'ibex%' and tgrelid = 'public." + table + "'::regclass");
    }

    private JsonNode syncDoc(String name) {
        for (JsonNode s : ok("sync", "list", "--json").json()) {
            if (s.path("name").asText().equals(name)) {
                return s;
            }
        }
        throw new AssertionError("no sync " + name);
    }

    /** A command that must be refused: exit 2, one line naming {@code badValue}, and nothing changed anywhere. */
    private void refused(String badValue, String... args) {
        String before = state();
        IbexCli.Result r = run(args).requireRefused(badValue);
        assertEquals(before, state(), () -> "a refused command changed something: " + r);
    }

    /**
     * The control database's memberships, priorities and purges, and the capture on each node (not
     * the watermarks and ibex.applied rows, which the running engine's rounds write meanwhile).
     */
    private String state() {
        StringBuilder s = new StringBuilder();
        s.append(a.rows("ibex_control", "select sync_name, node_name, ordinal::text from ibex.sync_node order by 1, 2"));
        s.append(a.rows("ibex_control", "select name, coalesce(priority, '') from ibex.sync order by 1"));
        s.append(a.rows("ibex_control", "select id::text, nodes_left from ibex.ledger_purge order by 1"));
        for (PgServer n : List.of(a, b, c)) {
            s.append(n.rows("postgres", "select tgrelid::regclass::text, tgname from pg_trigger where tgname like 'ibex%' order by 1, 2"));
            s.append(n.rows("postgres", "select table_name, sync_name, ledger_name from ibex.capture order by 1, 2"));
        }
        return s.toString();
    }

    private IbexCli.Result run(String... args) {
        return IbexCli.run(IbexCli.concat(List.of(args), "--control", control));
    }

    private IbexCli.Result ok(String... args) {
        return IbexCli.ok(IbexCli.concat(List.of(args), "--control", control));
    }
}
