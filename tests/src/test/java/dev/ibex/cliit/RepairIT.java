package dev.ibex.cliit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ibex.testkit.Await;
import dev.ibex.testkit.PgServer;
import dev.ibex.testkit.Sql;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
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
 * {@code ibex validate SYNC --repair-from NODE} (issue 14, item 6) against three real servers a, b
 * and c. Rows are changed behind Ibex's back on b and c ({@code session_replication_role = replica},
 * so capture does not see them): in table t two updates on b, an update and a delete on c and an
 * extra row on b; in table u an update on b and one on c. Then, in order: bad inputs are refused
 * with nothing changed; with no engine running, {@code --table u} records u's repairs only, and an
 * application writes one of those keys again before the engine starts, so that repair is superseded
 * (the application's write wins everywhere) while the other is applied; finally, with the engine
 * running and writers on every node (on other keys) all along, the repair of t from a is applied.
 * The usual oracle closes it: every node identical, each writer's key holding its last value with a
 * balance that counts its writes (nothing lost or applied twice), the repaired keys equal to a's rows.
 */
@TestInstance(Lifecycle.PER_CLASS)
@TestMethodOrder(OrderAnnotation.class)
class RepairIT {
    private static final String DB = "app";
    private static final List<String> NODES = List.of("a", "b", "c");
    private static final Duration ARRIVAL = Duration.ofSeconds(30);
    /** t's keys changed behind Ibex's back: 10, 11 updated on b; 12 deleted and 13 updated on c; 500 inserted on b. */
    private static final List<String> T_KEYS = List.of("10", "11", "12", "13", "500");

    private final Map<String, PgServer> servers = new LinkedHashMap<>();
    private String control;
    private InProcessEngine engine;
    private List<List<String>> aRows;

    @BeforeAll
    void setUp() {
        for (String n : NODES) {
            PgServer server = PgServer.start("repair-" + n);
            servers.put(n, server);
            server.createDatabase(DB);
            server.execute(DB,
                    "create table t (id int primary key, val text, balance bigint not null)",
                    "create table u (id int primary key, v text)",
                    "create table x (id int primary key)",
                    "insert into t select i, 'seed ' || i, 0 from generate_series(1, 200) i",
                    "insert into u select i, 'seed ' || i from generate_series(1, 50) i");
        }
        servers.get("a").createDatabase("ibex_control");
        control = servers.get("a").jdbcUrl("ibex_control");
        cli("setup");
        for (String n : NODES) {
            cli("node", "add", n, "--url", servers.get(n).jdbcUrl(DB));
        }
        cli("sync", "add", "s", "--nodes", "a,b,c", "--tables", "t,u", "--interval", "1s");
        cli("sync", "add", "s2", "--nodes", "a,b", "--tables", "x");

        behindIbex("b", "update t set val = 'b only', balance = 7 where id in (10, 11)",
                "insert into t values (500, 'extra on b', 0)", "update u set v = 'b only' where id = 6");
        behindIbex("c", "delete from t where id = 12", "update t set val = 'c only' where id = 13",
                "update u set v = 'c only' where id = 5");
        aRows = rows("a", keyRows());
    }

    @AfterAll
    void tearDown() {
        try {
            if (engine != null) {
                engine.close();
            }
        } finally {
            servers.values().forEach(PgServer::close);
        }
    }

    @Test
    @Order(1)
    void badInputsAreRefusedWithNothingChanged() {
        List<String> before = state();
        refused("nosuch", "validate", "nosuch", "--repair-from", "a");
        refused("zz", "validate", "s", "--repair-from", "zz");
        refused("c", "validate", "s2", "--repair-from", "c");
        refused("nosuch", "validate", "s", "--table", "nosuch", "--repair-from", "a");
        refused("--wait", "validate", "s", "--wait");
        assertEquals(before, state(), "no node and no journal entry changed");
        JsonNode diff = IbexCli.parseJson(IbexCli.run("validate", "s", "--json", "--control", control).out());
        assertEquals(5, diff.get(0).path("differingKeys").asLong(), diff::toString);
        assertEquals(2, diff.get(1).path("differingKeys").asLong(), diff::toString);
    }

    @Test
    @Order(2)
    void withoutAnEngineTheRepairIsRecordedForTheNextRoundAndOnlyForTheTable() {
        IbexCli.Result r = cli("validate", "s", "--table", "u", "--repair-from", "a");
        assertTrue(r.out().contains("public.u key [5]") && r.out().contains("public.u key [6]"), r::toString);
        assertFalse(r.out().contains("public.t"), () -> "--table u validates u only: " + r);
        assertTrue(r.out().contains("2 keys recorded"), r::toString);
        assertTrue(r.out().contains("ibex start"), () -> "says the next round applies it: " + r);

        JsonNode open = cli("conflicts", "s", "--open", "--json").json();
        assertEquals(2, open.size(), open::toString);
        for (JsonNode e : open) {
            assertEquals("repair", e.path("strategy").asText(), e::toString);
            assertEquals("resolved", e.path("status").asText(), e::toString);
            assertEquals("repair from a", e.path("resolvedBy").asText(), e::toString);
            assertEquals("public.u", e.path("tableSchema").asText() + "." + e.path("tableName").asText(), e::toString);
        }
        JsonNode status = cli("status", "s", "--json").json().get(0);
        assertEquals(0, status.path("openConflicts").asInt(), () -> "a pending repair is no conflict held for an operator: " + status);
        assertEquals(1, IbexCli.run("validate", "s", "--table", "t", "--control", control).code(), "t is left as it was");
        assertEquals(aRows, rows("a", keyRows()));

        // an application writes key 5 again after the validation: its write must win over the repair
        servers.get("c").execute(DB, "update u set v = 'app on c' where id = 5");
    }

    @Test
    @Order(3)
    void theEngineAppliesTheRepairButNotOverAWriteMadeSince() {
        engine = InProcessEngine.start(control);
        Await.until("u's repairs finished", ARRIVAL, () -> cli("conflicts", "s", "--open", "--json").json().isEmpty());
        Map<String, String> status = new HashMap<>();
        cli("conflicts", "s", "--table", "u", "--json").json().forEach(e -> status.put(e.path("key").get(0).asText(),
                e.path("status").asText() + " " + e.path("winner").asText()));
        assertEquals(Map.of("5", "decided (changed since)", "6", "applied a"), status);
        for (String n : NODES) {
            awaitRows(n, "select id::text, v from u where id in (5, 6) order by id",
                    List.of(List.of("5", "app on c"), List.of("6", "seed 6")));
        }
    }

    @Test
    @Order(4)
    void repairsWhileEveryNodeTakesWritesAndLosesNone() throws Exception {
        Writers writers = new Writers();
        writers.start();
        try {
            Await.until("writers replicating", ARRIVAL, () -> writers.writes() > 300);
            IbexCli.Result r = cli("validate", "s", "--repair-from", "a", "--wait", "--timeout", "30s", "--max-keys", "1000", "--json");
            JsonNode out = r.json();
            JsonNode t = out.path("tables").get(0);
            assertEquals("public.t", t.path("table").asText(), out::toString);
            Set<String> listed = new HashSet<>();
            t.path("differences").forEach(d -> listed.add(d.path("key").get(0).asText()));
            assertTrue(listed.containsAll(T_KEYS), () -> "lists the keys changed behind Ibex's back: " + out);
            JsonNode repair = out.path("repairs").get(0);
            assertEquals("public.t", repair.path("table").asText(), out::toString);
            assertEquals(0, repair.path("pending").asLong(), out::toString);
            Set<String> applied = new HashSet<>();
            repair.path("appliedKeys").forEach(k -> applied.add(k.get(0).asText()));
            assertTrue(applied.containsAll(T_KEYS), () -> "the keys changed behind Ibex's back are repaired: " + out);
            LockSupport.parkNanos(Duration.ofMillis(500).toNanos()); // writers go on after the repair
        } finally {
            writers.stop();
        }
        Await.until("validate s finds no difference", ARRIVAL,
                () -> IbexCli.run("validate", "s", "--control", control).code() == 0);
        for (String n : NODES) {
            assertEquals(aRows, rows(n, keyRows()), "the repaired keys hold a's rows on node " + n);
        }
        writers.check();

        Map<String, JsonNode> entries = new HashMap<>();
        cli("conflicts", "s", "--table", "t", "--limit", "10000", "--json").json()
                .forEach(e -> entries.put(e.path("key").get(0).asText(), e));
        for (String k : T_KEYS) {
            JsonNode e = entries.get(k);
            assertTrue(e != null, () -> "journal entry for key " + k + ": " + entries);
            assertEquals("repair applied a repair from a", e.path("strategy").asText() + " " + e.path("status").asText() + " "
                    + e.path("winner").asText() + " " + e.path("resolvedBy").asText(), e::toString);
        }
    }

    /** One writer per node, each on its own keys of t: upserts that add one to the balance. */
    private final class Writers {
        private final AtomicBoolean stop = new AtomicBoolean();
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        private final Map<Integer, String> last = new ConcurrentHashMap<>();
        private final Map<Integer, Long> count = new ConcurrentHashMap<>();
        private final List<Thread> threads = new ArrayList<>();

        void start() {
            for (int i = 0; i < NODES.size(); i++) {
                String node = NODES.get(i);
                int base = 1000 * (i + 1);
                Thread th = new Thread(() -> write(node, base), "writer-" + node);
                threads.add(th);
                th.start();
            }
        }

        private void write(String node, int base) {
            try (Connection c = servers.get(node).connect(DB)) {
                for (long seq = 0; !stop.get(); seq++) {
                    int key = base + (int) (seq % 20);
                    String value = node + "-" + seq;
                    Sql.exec(c, "insert into t values (?, ?, 1) on conflict (id) do update set val = excluded.val, balance = t.balance + 1",
                            key, value);
                    last.put(key, value);
                    count.merge(key, 1L, Long::sum);
                    LockSupport.parkNanos(Duration.ofMillis(3).toNanos());
                }
            } catch (SQLException | RuntimeException e) {
                failure.compareAndSet(null, e);
            }
        }

        long writes() {
            return count.values().stream().mapToLong(Long::longValue).sum();
        }

        void stop() throws InterruptedException {
            stop.set(true);
            for (Thread th : threads) {
                th.join();
            }
            if (failure.get() != null) {
                throw new AssertionError("a writer failed", failure.get());
            }
        }

        /** Every node holds each writer key's last value, with a balance equal to its number of writes. */
        void check() {
            List<List<String>> expected = new ArrayList<>();
            last.keySet().stream().sorted().forEach(k -> expected.add(List.of(Integer.toString(k), last.get(k),
                    Long.toString(count.get(k)))));
            for (String n : NODES) {
                assertEquals(expected, rows(n, "select id::text, val, balance::text from t where id >= 1000 order by id"),
                        "writers' rows on node " + n);
            }
        }
    }

    private static String keyRows() {
        return "select id::text, val, balance::text from t where id in (" + String.join(", ", T_KEYS) + ") order by id";
    }

    /** Each node's tables and ledgers, and the journal: what a refused command must leave as it was. */
    private List<String> state() {
        List<String> out = new ArrayList<>();
        for (String n : NODES) {
            out.add(n + " " + rows(n, "select md5(string_agg(t::text, ',' order by id)) from t") + " "
                    + rows(n, "select md5(string_agg(u::text, ',' order by id)) from u"));
        }
        out.add("journal " + cli("conflicts", "--limit", "10000", "--json").json().size());
        return out;
    }

    private void behindIbex(String node, String... sql) {
        try (Connection c = servers.get(node).connect(DB)) {
            Sql.exec(c, "set session_replication_role = replica");
            for (String s : sql) {
                Sql.exec(c, s);
            }
        } catch (SQLException e) {
            throw new Sql.UncheckedSqlException(String.join("; ", sql), e);
        }
    }

    private IbexCli.Result cli(String... args) {
        return IbexCli.ok(IbexCli.concat(List.of(args), "--control", control));
    }

    /** Runs a command that must be refused: exit 2, one line "ibex: ..." naming {@code badValue}, nothing on standard output. */
    private void refused(String badValue, String... args) {
        IbexCli.run(IbexCli.concat(List.of(args), "--control", control)).requireRefused(badValue);
    }

    private void awaitRows(String node, String sql, List<List<String>> expected) {
        Await.until(sql + " = " + expected + " on node " + node, ARRIVAL, () -> rows(node, sql).equals(expected));
    }

    private List<List<String>> rows(String node, String sql) {
        try (Connection c = servers.get(node).connect(DB)) {
            return Sql.rows(c, sql);
        } catch (SQLException e) {
            throw new Sql.UncheckedSqlException(sql, e);
        }
    }
}
