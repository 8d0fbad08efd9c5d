package dev.ibex.cliit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ibex.testkit.Await;
import dev.ibex.testkit.PgServer;
import dev.ibex.testkit.Sql;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer.OrderAnnotation;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestInstance.Lifecycle;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The operator's happy path through the CLI only, against three real servers a, b, c (database
 * {@code app}, control database on a's server): setup, nodes, a sync with an initial copy from a
 * to empty b and c, then with the engine running: replication, kick, status, per-table and
 * per-sync pause and resume, validate (differs while paused, identical after), the conflict
 * journal, and removal of capture.
 *
 * <p>Sync {@code s} holds tables t and u; sync {@code s2} holds w and keeps running while s is
 * paused, which shows that the engine is alive. The steps run in order and build on each other.
 */
@TestInstance(Lifecycle.PER_CLASS)
@TestMethodOrder(OrderAnnotation.class)
class CliFlowIT {
    private static final String DB = "app";
    private static final List<String> NODES = List.of("a", "b", "c");
    private static final Duration ARRIVAL = Duration.ofSeconds(30);
    /** How long a paused sync's change must stay away: three of its 1 s intervals. */
    private static final Duration PAUSED_WINDOW = Duration.ofSeconds(3);

    private final Map<String, PgServer> servers = new LinkedHashMap<>();
    private String control;
    private InProcessEngine engine;

    @BeforeAll
    void startServers() {
        for (String n : NODES) {
            PgServer server = PgServer.start("cli-flow-" + n);
            servers.put(n, server);
            server.createDatabase(DB);
            server.execute(DB,
                    "create table t (id int primary key, v text)",
                    "create table u (id int primary key, v text)",
                    "create table w (id int primary key, v text)");
        }
        servers.get("a").execute(DB,
                "insert into t select i, 'seed ' || i from generate_series(1, 50) i",
                "insert into u select i, 'seed ' || i from generate_series(1, 10) i");
        servers.get("a").createDatabase("ibex_control");
        control = servers.get("a").jdbcUrl("ibex_control");
    }

    @AfterAll
    void stopEverything() {
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
    void setupIsIdempotent() {
        IbexCli.Result first = cli("setup");
        long migrations = controlCount("select count(*) from ibex.ibex_schema_history");
        assertTrue(migrations > 0, () -> "setup applied migrations: " + first);
        IbexCli.Result second = cli("setup");
        assertEquals(migrations, controlCount("select count(*) from ibex.ibex_schema_history"),
                () -> "the second setup applied nothing: " + second);
    }

    @Test
    @Order(2)
    void nodesAreAddedListedAndChecked() {
        for (String n : NODES) {
            cli("node", "add", n, "--url", servers.get(n).jdbcUrl(DB));
        }
        JsonNode list = cli("node", "list", "--json").json();
        assertTrue(list.isArray() && list.size() == 3, () -> "node list --json: " + list);
        List<String> names = new ArrayList<>();
        list.forEach(n -> names.add(n.path("name").asText()));
        assertEquals(NODES, names);
        assertTrue(list.get(1).path("url").asText().contains(":" + servers.get("b").port() + "/" + DB), list::toString);
        cli("node", "check", "a");
        JsonNode check = cli("node", "check", "a", "--json").json();
        assertTrue(check.path("reachable").asBoolean(), check::toString);
        assertTrue(check.path("serverVersion").asText().startsWith(System.getProperty("ibex.pg.major", "15") + "."), check::toString);
    }

    @Test
    @Order(3)
    void syncAddCopiesTheRowsFromA() {
        assertEquals(0, count("b", "select count(*) from t"));
        IbexCli.Result added = cli("sync", "add", "s", "--nodes", "a,b,c", "--tables", "t,u", "--initial-copy-from", "a",
                "--interval", "1s");
        for (String n : List.of("b", "c")) {
            assertEquals(rows("a", "select * from t order by id"), rows(n, "select * from t order by id"),
                    () -> "t copied to " + n + ": " + added);
            assertEquals(rows("a", "select * from u order by id"), rows(n, "select * from u order by id"),
                    () -> "u copied to " + n + ": " + added);
        }
        cli("sync", "add", "s2", "--nodes", "a,b,c", "--tables", "w", "--interval", "1s");
        for (String n : NODES) {
            assertEquals(15, captureTriggers(n, "t", "u", "w"), "five capture triggers per table on node " + n);
        }

        JsonNode syncs = cli("sync", "list", "--json").json();
        assertEquals(2, syncs.size(), syncs::toString);
        JsonNode s = syncs.get(0);
        assertEquals("s", s.path("name").asText(), s::toString);
        assertEquals("active", s.path("state").asText(), s::toString);
        assertEquals("[\"a\",\"b\",\"c\"]", s.path("nodes").toString());
        assertEquals(2, s.path("tables").size(), s::toString);
        assertEquals("latest", s.path("strategy").asText(), s::toString);
        assertEquals(1000, s.path("intervalMillis").asLong(), s::toString);
    }

    @Test
    @Order(4)
    void aWriteOnBReachesAAndC() {
        engine = InProcessEngine.start(control);
        exec("b", "insert into t values (1001, 'written on b')");
        awaitRow("a", "t", 1001, "written on b");
        awaitRow("c", "t", 1001, "written on b");
        IbexCli.Result kick = cli("sync", "kick", "s", "--wait");
        assertTrue(kick.out().startsWith("round ok"), kick::toString);
    }

    @Test
    @Order(5)
    void statusShowsAllNodesReachableAndNothingPending() {
        JsonNode s = awaitStatus("s", st -> st.path("pending").asLong(-1) == 0);
        assertEquals("active", s.path("state").asText(), s::toString);
        assertEquals(3, s.path("nodes").size(), s::toString);
        for (JsonNode n : s.path("nodes")) {
            assertTrue(n.path("reachable").asBoolean(), () -> "node reachable: " + s);
            assertEquals(0, n.path("pending").asLong(-1), () -> "nothing pending: " + s);
        }
        assertNotNull(s.get("lastRound"), s::toString);
        assertEquals("ok", s.path("lastRound").path("outcome").asText(), s::toString);
        JsonNode all = cli("status", "--json").json();
        assertEquals(2, all.size(), all::toString);
    }

    /**
     * Once 'table pause' has returned and the round in flight then (if any) is over, no round may
     * replicate the table. The change to t is checked after the change to u, written after it,
     * has arrived. The table is resumed whatever happens, so that later steps do not depend on
     * this one.
     */
    @Test
    @Order(6)
    void aPausedTableStaysBehindWhileItsSyncGoesOn() {
        cli("table", "pause", "s", "t");
        List<String> reached = new ArrayList<>();
        try {
            assertTrue(tableEntry("s", "public.t").path("paused").asBoolean(), "sync list shows t paused");
            cli("sync", "kick", "s", "--wait");
            exec("a", "insert into t values (2001, 'paused table')");
            exec("a", "insert into u values (2001, 'running table')");
            awaitRow("b", "u", 2001, "running table");
            awaitRow("c", "u", 2001, "running table");
            cli("sync", "kick", "s", "--wait");
            for (String n : List.of("b", "c")) {
                if (count(n, "select count(*) from t where id = 2001") != 0) {
                    reached.add(n);
                }
            }
        } finally {
            cli("table", "resume", "s", "t");
        }
        assertFalse(tableEntry("s", "public.t").path("paused").asBoolean(), "sync list shows t resumed");
        awaitRow("b", "t", 2001, "paused table");
        awaitRow("c", "t", 2001, "paused table");
        assertEquals(List.of(), reached, "nodes that a change to paused table t reached while later rounds of its sync ran");
    }

    @Test
    @Order(7)
    void aPausedSyncStaysBehindAndCatchesUpWithItsConflictJournaled() {
        cli("sync", "pause", "s");
        assertEquals("paused", syncEntry("s").path("state").asText());
        assertEquals("paused", awaitStatus("s", st -> true).path("state").asText());
        // Once the round in flight (if any) is over, a kick runs no round: 'kick --wait' exits 1.
        Await.until("a kick of paused sync s to run no round", ARRIVAL,
                () -> IbexCli.run("sync", "kick", "s", "--wait", "--timeout", "2s", "--control", control).code() == 1);
        exec("a", "insert into u values (3001, 'while paused')");
        exec("a", "update t set v = 'A' where id = 1");
        exec("b", "update t set v = 'B' where id = 1");
        exec("a", "insert into w values (3001, 'other sync')");
        awaitRow("b", "w", 3001, "other sync");
        awaitRow("c", "w", 3001, "other sync");
        holdsFor("u 3001 stays away from b and c while sync s is paused", PAUSED_WINDOW,
                () -> count("b", "select count(*) from u where id = 3001") == 0
                        && count("c", "select count(*) from u where id = 3001") == 0);

        IbexCli.Result differs = IbexCli.run("validate", "s", "--table", "u", "--json", "--control", control);
        assertEquals(1, differs.code(), () -> "validate exits 1 while u differs: " + differs);
        JsonNode report = IbexCli.parseJson(differs.out());
        assertEquals(1, report.size(), report::toString);
        assertEquals(1, report.get(0).path("differingKeys").asLong(), report::toString);
        assertEquals("[\"3001\"]", report.get(0).path("differences").get(0).path("key").toString(), report::toString);

        cli("sync", "resume", "s");
        assertEquals("active", syncEntry("s").path("state").asText());
        awaitRow("b", "u", 3001, "while paused");
        awaitRow("c", "u", 3001, "while paused");
        for (String n : NODES) {
            awaitRow(n, "t", 1, "B");
        }

        JsonNode conflicts = cli("conflicts", "--json").json();
        assertTrue(conflicts.isArray(), conflicts::toString);
        JsonNode entry = null;
        for (JsonNode c : cli("conflicts", "s", "--table", "t", "--since", "1h", "--json").json()) {
            if (c.path("key").toString().equals("[\"1\"]")) {
                entry = c;
            }
        }
        JsonNode found = entry;
        assertNotNull(found, () -> "the conflict on t key 1 is journaled: " + conflicts);
        assertEquals("s", found.path("sync").asText(), found::toString);
        assertEquals("t", found.path("tableName").asText(), found::toString);
        assertEquals("b", found.path("winner").asText(), () -> "the later write (on b) wins under 'latest': " + found);
        assertTrue(found.path("sides").size() >= 2, found::toString);
        awaitStatus("s", st -> st.path("pending").asLong(-1) == 0);
        JsonNode identical = cli("validate", "s", "--json").json();
        assertEquals(2, identical.size(), identical::toString);
        identical.forEach(t -> assertEquals(0, t.path("differingKeys").asLong(-1), identical::toString));
    }

    /**
     * With the engine running: sync s2 purges its ledgers every round, and status shows them
     * empty; then node c's copy of w is damaged behind Ibex's back (no capture) and 'node resync c'
     * copies it back from a, after which c replicates both ways as before.
     */
    @Test
    @Order(8)
    void ledgersArePurgedAndNodeResyncRepairsANode() {
        cli("sync", "set", "s2", "--purge-interval", "0s");
        exec("b", "insert into w values (4001, 'before the purge')");
        awaitRow("c", "w", 4001, "before the purge");
        JsonNode purged = awaitStatus("s2", st -> {
            for (JsonNode n : st.path("nodes")) {
                if (n.path("ledgerRows").asLong(-1) != 0 || n.path("ledgerBytes").asLong(-1) <= 0) {
                    return false;
                }
            }
            return true;
        });
        assertEquals(3, purged.path("nodes").size(), purged::toString);

        exec("c", "set session_replication_role = replica; delete from w where id = 4001; "
                + "insert into w values (4002, 'c only, behind Ibex''s back')");
        IbexCli.Result differs = IbexCli.run("validate", "s2", "--control", control);
        assertEquals(1, differs.code(), differs::toString);

        IbexCli.Result resync = cli("node", "resync", "c", "--from", "a", "--sync", "s2");
        assertTrue(resync.out().contains("node c resynced"), resync::toString);
        assertTrue(resync.out().contains("public.w") || resync.out().contains(" w "), resync::toString);
        assertEquals(1, count("c", "select count(*) from w where id = 4001"));
        assertEquals(0, count("c", "select count(*) from w where id = 4002"));
        JsonNode identical = cli("validate", "s2", "--json").json();
        identical.forEach(t -> assertEquals(0, t.path("differingKeys").asLong(-1), identical::toString));

        exec("c", "insert into w values (4003, 'c after the resync')");
        awaitRow("a", "w", 4003, "c after the resync");
        exec("a", "update w set v = 'a after the resync' where id = 4001");
        awaitRow("c", "w", 4001, "a after the resync");
        assertTrue(awaitStatus("s2", st -> st.path("warnings").size() == 0).path("warnings").isEmpty());
    }

    @Test
    @Order(9)
    void syncRemoveTakesCaptureOffEveryNode() {
        cli("sync", "remove", "s");
        for (String n : NODES) {
            assertEquals(0, captureTriggers(n, "t", "u"), "no capture triggers on t and u on node " + n);
            assertEquals(5, captureTriggers(n, "w"), "sync s2 keeps its capture on node " + n);
        }
        JsonNode syncs = cli("sync", "list", "--json").json();
        assertEquals(1, syncs.size(), syncs::toString);
        assertEquals("s2", syncs.get(0).path("name").asText());
        cli("sync", "remove", "s2");
        for (String n : NODES) {
            assertEquals(0, captureTriggers(n, "t", "u", "w"), "no capture triggers on node " + n);
        }
        assertEquals(0, cli("sync", "list", "--json").json().size());
    }

    // ---- helpers

    private IbexCli.Result cli(String... args) {
        return IbexCli.ok(IbexCli.concat(List.of(args), "--control", control));
    }

    private JsonNode syncEntry(String sync) {
        for (JsonNode s : cli("sync", "list", "--json").json()) {
            if (s.path("name").asText().equals(sync)) {
                return s;
            }
        }
        throw new AssertionError("sync list --json has no sync " + sync);
    }

    private JsonNode tableEntry(String sync, String table) {
        for (JsonNode t : syncEntry(sync).path("tables")) {
            if (t.path("table").asText().equals(table)) {
                return t;
            }
        }
        throw new AssertionError("sync " + sync + " has no table " + table + ": " + syncEntry(sync));
    }

    /** Polls 'status SYNC --json' until {@code ok} accepts the sync's document, and returns it. */
    private JsonNode awaitStatus(String sync, java.util.function.Predicate<JsonNode> ok) {
        return Await.value("status of " + sync, ARRIVAL, () -> {
            JsonNode all = cli("status", sync, "--json").json();
            assertEquals(1, all.size(), all::toString);
            return all.get(0);
        }, ok);
    }

    private void awaitRow(String node, String table, int id, String value) {
        Await.until("row " + id + " of " + table + " = '" + value + "' on node " + node, ARRIVAL,
                () -> rows(node, "select v from " + table + " where id = ?", id).equals(List.of(List.of(value))));
    }

    /** Checks {@code invariant} until {@code window} has passed; fails as soon as it does not hold. */
    private static void holdsFor(String what, Duration window, BooleanSupplier invariant) {
        long end = System.nanoTime() + window.toNanos();
        Boolean held = Await.value(what, window.plusSeconds(30),
                () -> !invariant.getAsBoolean() ? Boolean.FALSE : System.nanoTime() - end >= 0 ? Boolean.TRUE : null,
                v -> v != null);
        assertTrue(held, "violated: " + what);
    }

    private long captureTriggers(String node, String... tables) {
        return count(node, "select count(*) from pg_trigger t join pg_class c on c.oid = t.tgrelid "
                + "where t.tgname like 'ibex_capture%' and c.relname::text = any(?::text[])", (Object) tables);
    }

    private long controlCount(String sql) {
        try (Connection c = Sql.connect(control)) {
            return Sql.count(c, sql);
        } catch (SQLException e) {
            throw new Sql.UncheckedSqlException(sql, e);
        }
    }

    private long count(String node, String sql, Object... args) {
        try (Connection c = servers.get(node).connect(DB)) {
            return Sql.count(c, sql, args);
        } catch (SQLException e) {
            throw new Sql.UncheckedSqlException(sql, e);
        }
    }

    private List<List<String>> rows(String node, String sql, Object... args) {
        try (Connection c = servers.get(node).connect(DB)) {
            return Sql.rows(c, sql, args);
        } catch (SQLException e) {
            throw new Sql.UncheckedSqlException(sql, e);
        }
    }

    private void exec(String node, String sql) {
        servers.get(node).execute(DB, sql);
    }
}
