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
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestInstance.Lifecycle;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Issue 14, item 5: a table without a primary key replicates, keyed by a unique index over NOT
 * NULL columns, which {@code sync add} names. Three servers, driven through the CLI. Table
 * {@code uk} has a nullable unique index, a partial one, a two-column one and {@code uk_code_key
 * (code)}: Ibex must choose the last. One writer, on a node drawn at random for each statement,
 * upserts, updates, deletes and changes keys while the engine runs; the writes are sequential, so
 * under the latest strategy every key ends with its last write, which the test's model holds.
 * Tables with only a nullable unique index, only a partial one, or none are refused (exit 2, one
 * line, nothing changed); when the chosen index is dropped on one node, the round pauses the table
 * with a reason naming the node and both keys, and the sync's other table goes on.
 */
@TestInstance(Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class UniqueKeyIT {
    private static final String DB = "app";
    private static final List<String> NODES = List.of("a", "b", "c");
    private static final int CODES = 50;

    private final Map<String, PgServer> servers = new LinkedHashMap<>();
    private String control;

    @BeforeAll
    void setUp() {
        for (String n : NODES) {
            PgServer server = PgServer.start("uk-" + n);
            servers.put(n, server);
            server.createDatabase(DB);
            server.execute(DB,
                    "create table uk (code text not null, n int not null, v text, note text)",
                    "create unique index uk_a_note on uk (note)",
                    "create unique index uk_b_partial on uk (n) where n < 0",
                    "create unique index uk_code_key on uk (code)",
                    "create unique index uk_code_n on uk (code, n)",
                    "create table plain (id int primary key, v text)",
                    "create table uk_json (id int not null, v text, constraint uk_json_id unique (id))",
                    "create table only_nullable (code text unique, v text)",
                    "create table only_partial (code text not null, v text)",
                    "create unique index only_partial_code on only_partial (code) where v is not null",
                    "create table no_key (code text not null, v text)");
        }
        servers.get("a").createDatabase("ibex_control");
        control = servers.get("a").jdbcUrl("ibex_control");
        ok("setup");
        for (String n : NODES) {
            ok("node", "add", n, "--url", servers.get(n).jdbcUrl(DB));
        }
    }

    @AfterAll
    void tearDown() {
        servers.values().forEach(PgServer::close);
    }

    @Test
    @Order(1)
    void tablesWithoutAUsableUniqueIndexAreRefusedAndNothingChanges() {
        for (String table : List.of("only_nullable", "only_partial", "no_key")) {
            String before = state();
            IbexCli.Result r = run("sync", "add", "s_" + table, "--nodes", "a,b,c", "--tables", table);
            assertEquals(2, r.code(), () -> "exit 2: " + r);
            assertEquals(1, r.stderrLines().size(), () -> "one line: " + r);
            assertEquals("ibex: table public." + table + " has no primary key and no unique index over NOT NULL columns: "
                    + "add one, e.g. ALTER TABLE public." + table + " ADD PRIMARY KEY (column, ...)", r.stderrLines().get(0));
            assertFalse(r.hasStackTrace(), r::toString);
            assertEquals(before, state(), () -> "a refused command changed something: " + r);
        }
    }

    @Test
    @Order(2)
    void aTableKeyedByAUniqueIndexReplicatesEveryKindOfWriteFromEveryNode() throws SQLException {
        IbexCli.Result added = ok("sync", "add", "s", "--nodes", "a,b,c", "--tables", "uk,plain", "--interval", "1s");
        assertTrue(added.stdout().contains("table public.uk has no primary key: using unique index uk_code_key (code) as its key"),
                added::toString);
        JsonNode json = ok("table", "add", "s", "uk_json", "--json").json();
        assertEquals("unique index", json.at("/tables/0/key_source").asText(), json::toString);
        assertEquals("uk_json_id", json.at("/tables/0/key_index").asText(), json::toString);
        assertEquals("id", json.at("/tables/0/key/0").asText(), json::toString);

        Map<String, String> model = new TreeMap<>();
        long seed = System.nanoTime();
        Random random = new Random(seed);
        List<Connection> conns = new ArrayList<>();
        try (InProcessEngine engine = InProcessEngine.start(control)) {
            for (String n : NODES) {
                conns.add(servers.get(n).connect(DB));
            }
            for (int i = 1; i <= 1500; i++) {
                if (i % 150 == 0) {
                    awaitNextRound();
                }
                write(conns.get(random.nextInt(conns.size())), random, i, model);
            }
            Await.until("uk identical on every node and equal to the model (seed " + seed + ")", Duration.ofSeconds(60),
                    () -> NODES.stream().allMatch(n -> rows(n).equals(expected(model))));
        } finally {
            for (Connection c : conns) {
                c.close();
            }
        }
        for (String n : NODES) {
            assertEquals(expected(model), rows(n), "node " + n + " holds every key's last write (seed " + seed + ")");
            assertEquals(0, servers.get(n).count(DB, "select count(*) from (select code from uk group by code having count(*) > 1) d"),
                    "no duplicate key on node " + n);
        }
        assertTrue(model.size() > 10, "the workload left rows to compare: " + model.size());

        JsonNode status = ok("status", "s", "--json").json();
        List<String> keys = new ArrayList<>();
        status.get(0).path("tables").forEach(t -> keys.add(t.path("table").asText() + ": " + t.path("key").asText()));
        assertEquals(List.of("public.plain: primary key (id)", "public.uk: unique index uk_code_key (code)",
                "public.uk_json: unique index uk_json_id (id)"), keys, status::toString);
        assertTrue(ok("status", "s").stdout().contains("table public.uk is keyed by unique index uk_code_key (code)"));

        JsonNode valid = ok("validate", "s", "--table", "uk", "--json").json();
        assertEquals(0, valid.get(0).path("differingKeys").asLong(-1), valid::toString);
        String code = model.keySet().iterator().next();
        JsonNode trace = ok("trace", "s", "uk", code, "--json").json();
        assertEquals(code, trace.path("key").path("code").asText(), trace::toString);
        for (JsonNode n : trace.path("nodes")) {
            assertEquals("present", n.path("state").asText(), n::toString);
        }
        servers.get("b").execute(DB, "alter table uk disable trigger user", "update uk set v = 'behind ibex' where code = '" + code + "'",
                "alter table uk enable trigger user");
        IbexCli.Result differs = run("validate", "s", "--table", "uk", "--json");
        assertEquals(1, differs.code(), differs::toString);
        assertEquals("[\"" + code + "\"]", IbexCli.parseJson(differs.out()).get(0).path("differences").get(0).path("key").toString(),
                differs::toString);
        servers.get("b").execute(DB, "alter table uk disable trigger user", "update uk set v = '" + model.get(code).split("\\|")[1]
                + "' where code = '" + code + "'", "alter table uk enable trigger user");
    }

    @Test
    @Order(3)
    void droppingTheKeyIndexOnOneNodePausesTheTableAndTheOtherTableGoesOn() {
        servers.get("c").execute(DB, "drop index uk_code_key");
        try (InProcessEngine engine = InProcessEngine.start(control)) {
            servers.get("a").execute(DB, "insert into uk values ('after-drop', 1, 'x', null)", "insert into plain values (1000, 'after')");
            Await.until("plain replicated to c", Duration.ofSeconds(30),
                    () -> servers.get("c").count(DB, "select count(*) from plain where id = 1000") == 1);
            String reason = Await.value("uk paused", Duration.ofSeconds(30), this::pauseReason, r -> r != null);
            assertTrue(reason.contains("table public.uk: the key is unique index uk_code_key (code) on node a but unique index "
                    + "uk_code_n (code, n) on node c"), reason);
        }
        assertEquals(0, servers.get("c").count(DB, "select count(*) from uk where code = 'after-drop'"), "uk is not applied while paused");
    }

    private void write(Connection c, Random random, int i, Map<String, String> model) throws SQLException {
        String code = "k" + random.nextInt(CODES);
        int n = i;
        String v = "v" + i;
        int op = random.nextInt(100);
        if (op < 35) {
            if (Sql.update(c, "insert into uk values (?, ?, ?, null) on conflict (code) do update set n = excluded.n, v = excluded.v",
                    code, n, v) > 0) {
                model.put(code, n + "|" + v);
            }
        } else if (op < 65) {
            if (Sql.update(c, "update uk set n = ?, v = ? where code = ?", n, v, code) > 0) {
                model.put(code, n + "|" + v);
            }
        } else if (op < 80) {
            if (Sql.update(c, "delete from uk where code = ?", code) > 0) {
                model.remove(code);
            }
        } else {
            String to = "k" + random.nextInt(CODES);
            if (!to.equals(code) && Sql.count(c, "select count(*) from uk where code = ?", to) == 0
                    && Sql.updateUnlessTaken(c, "update uk set code = ?, n = ?, v = ? where code = ?", to, n, v, code) > 0) {
                model.remove(code);
                model.put(to, n + "|" + v);
            }
        }
    }

    private static List<String> expected(Map<String, String> model) {
        return model.entrySet().stream().map(e -> e.getKey() + "|" + e.getValue()).sorted().toList();
    }

    private List<String> rows(String node) {
        try (Connection c = servers.get(node).connect(DB)) {
            return Sql.rows(c, "select code || '|' || n || '|' || v from uk").stream().map(r -> r.get(0)).sorted().toList();
        } catch (SQLException e) {
            throw new Sql.UncheckedSqlException("reading uk on node " + node, e);
        }
    }

    private String pauseReason() {
        try (Connection c = Sql.connect(control)) {
            List<List<String>> r = Sql.rows(c, "select pause_reason from ibex.sync_table where table_name = 'uk' and paused");
            return r.isEmpty() ? null : r.get(0).get(0);
        } catch (SQLException e) {
            throw new Sql.UncheckedSqlException("reading the control database", e);
        }
    }

    private void awaitNextRound() {
        String now = OffsetDateTime.now().toString();
        Await.until("a round of sync s", Duration.ofSeconds(30), () -> {
            try (Connection c = Sql.connect(control)) {
                return Sql.count(c, "select count(*) from ibex.round where sync_name = 's' and finished_at > ?::timestamptz", now) > 0;
            } catch (SQLException e) {
                throw new Sql.UncheckedSqlException("reading the control database", e);
            }
        });
    }

    /** The control database's tables and, on every node, the ibex schema's tables and the triggers: what a refusal leaves alone. */
    private String state() {
        StringBuilder s = new StringBuilder();
        try (Connection c = Sql.connect(control)) {
            for (List<String> t : Sql.rows(c, "select tablename from pg_tables where schemaname = 'ibex' "
                    + "and tablename <> 'ibex_schema_history' order by 1")) {
                s.append(t.get(0)).append(Sql.rows(c, "select x::text from ibex.\"" + t.get(0) + "\" x order by 1")).append('\n');
            }
            for (String n : NODES) {
                try (Connection nc = servers.get(n).connect(DB)) {
                    s.append(n).append(Sql.rows(nc, "select schemaname || '.' || tablename from pg_tables where schemaname = 'ibex' order by 1"))
                            .append(Sql.rows(nc, "select tgrelid::regclass::text || '.' || tgname from pg_trigger where tgname like 'ibex%' order by 1"))
                            .append('\n');
                }
            }
        } catch (SQLException e) {
            throw new Sql.UncheckedSqlException("reading the state", e);
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
