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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer.OrderAnnotation;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestInstance.Lifecycle;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The operator's side of conflicts through the CLI, against two real servers a and b (database
 * {@code app}, control database on a's server) and a running engine: {@code conflicts --open},
 * {@code conflicts show}, {@code conflicts resolve} (--take and --row), {@code status} showing held
 * conflicts, {@code sync set}, and the refusals of these commands (exit 2, one line naming the bad value).
 *
 * <p>Sync {@code s} (strategy manual, table t) and sync {@code s2} (strategy latest, table w) are
 * created, then, before the engine starts, both nodes change the same rows: t key 1 (both update),
 * key 2 (both update), key 3 (a updates, b deletes), and w key 1. So the engine's first round
 * sees concurrent changes: three conflicts held in s, one decided in s2. The steps run in order.
 *
 * <p>Refusals are checked on what the command itself prints (picocli's writers): the running
 * engine may log to System.out/err at the same time.
 */
@TestInstance(Lifecycle.PER_CLASS)
@TestMethodOrder(OrderAnnotation.class)
class CliConflictsIT {
    private static final String DB = "app";
    private static final List<String> NODES = List.of("a", "b");
    private static final Duration ARRIVAL = Duration.ofSeconds(30);

    private final Map<String, PgServer> servers = new LinkedHashMap<>();
    private final Map<String, Long> ids = new LinkedHashMap<>();
    private String control;
    private InProcessEngine engine;

    @BeforeAll
    void setUp() {
        for (String n : NODES) {
            PgServer server = PgServer.start("cli-conflicts-" + n);
            servers.put(n, server);
            server.createDatabase(DB);
            server.execute(DB,
                    "create table t (id int primary key, v text, n int)",
                    "create table w (id int primary key, v text)",
                    "create table x (id int primary key, v text)",
                    "insert into t select i, 'seed ' || i, i from generate_series(1, 5) i",
                    "insert into w values (1, 'seed')");
        }
        servers.get("a").createDatabase("ibex_control");
        control = servers.get("a").jdbcUrl("ibex_control");
        cli("setup");
        for (String n : NODES) {
            cli("node", "add", n, "--url", servers.get(n).jdbcUrl(DB));
        }
        cli("sync", "add", "s", "--nodes", "a,b", "--tables", "t", "--strategy", "manual", "--interval", "1s");
        cli("sync", "add", "s2", "--nodes", "a,b", "--tables", "w", "--interval", "1s", "--journal-retention", "7d",
                "--max-clock-skew", "250ms");

        exec("a", "update t set v = 'from a', n = 10 where id = 1");
        exec("b", "update t set v = 'from b', n = 20 where id = 1");
        exec("a", "update t set v = 'a2' where id = 2");
        exec("b", "update t set v = 'b2' where id = 2");
        exec("a", "update t set v = 'a3', n = 30 where id = 3");
        exec("b", "delete from t where id = 3");
        exec("a", "update w set v = 'w from a' where id = 1");
        exec("b", "update w set v = 'w from b' where id = 1");

        engine = InProcessEngine.start(control);
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
    void syncAddStoresRetentionAndSkewBound() {
        JsonNode s2 = syncEntry("s2");
        assertEquals(Duration.ofDays(7).toMillis(), s2.path("journalRetentionMillis").asLong(), s2::toString);
        assertEquals(250, s2.path("maxClockSkewMillis").asLong(), s2::toString);
        JsonNode s = syncEntry("s");
        assertEquals("manual", s.path("strategy").asText(), s::toString);
        assertEquals(Duration.ofDays(30).toMillis(), s.path("journalRetentionMillis").asLong(), () -> "default 30d: " + s);
        assertEquals(1000, s.path("maxClockSkewMillis").asLong(), () -> "default 1s: " + s);
    }

    @Test
    @Order(2)
    void heldConflictsAreListedAsOpenAndNodesKeepTheirRows() {
        JsonNode open = Await.value("three conflicts of s held open", ARRIVAL, () -> cli("conflicts", "s", "--open", "--json").json(),
                j -> j.size() == 3);
        for (JsonNode e : open) {
            assertEquals("open", e.path("status").asText(), e::toString);
            assertEquals("manual", e.path("strategy").asText(), e::toString);
            assertTrue(e.path("winner").isNull(), () -> "no winner while open: " + e);
            assertEquals(2, e.path("sides").size(), e::toString);
            ids.put(e.path("key").get(0).asText(), e.path("id").asLong());
        }
        assertEquals(List.of("1", "2", "3"), ids.keySet().stream().sorted().toList(), open::toString);
        assertEquals(summary(open), summary(cli("conflicts", "--sync", "s", "--open", "--json").json()), "--sync means the same as SYNC");
        assertEquals(summary(open), summary(cli("conflicts", "s", "--sync", "s", "--open", "--json").json()), "SYNC and --sync may agree");
        assertEquals(1, cli("conflicts", "s", "--open", "--limit", "1", "--json").json().size());

        IbexCli.Result table = cli("conflicts", "s", "--open");
        for (String header : List.of("ID", "SYNC", "TABLE", "KEY", "STATUS", "STRATEGY", "WINNER", "DECIDED", "SIDES")) {
            assertTrue(table.out().contains(header), () -> "column " + header + ": " + table);
        }
        assertTrue(Pattern.compile("(?m)^\\s*" + ids.get("1") + "\\s+s\\s+public\\.t\\s+1\\s+open\\s+manual\\s+-\\s").matcher(table.out()).find(),
                () -> "conflict on key 1 listed as open with no winner: " + table);

        cli("sync", "kick", "s", "--wait");
        assertEquals(List.of(List.of("from a", "10")), rows("a", "select v, n::text from t where id = 1"));
        assertEquals(List.of(List.of("from b", "20")), rows("b", "select v, n::text from t where id = 1"));
        assertEquals(List.of(List.of("a3")), rows("a", "select v from t where id = 3"));
        assertEquals(0, count("b", "select count(*) from t where id = 3"), "b keeps its delete while the conflict is held");
        assertEquals(3, cli("conflicts", "s", "--open", "--json").json().size(), "still open after another round");
    }

    @Test
    @Order(3)
    void statusShowsTheHeldConflicts() {
        JsonNode st = cli("status", "s", "--json").json().get(0);
        assertEquals(3, st.path("openConflicts").asLong(), st::toString);
        assertEquals(1000, st.path("maxClockSkewMillis").asLong(), st::toString);
        assertTrue(st.path("warnings").toString().contains("3 conflict(s) held for an operator"), st::toString);
        IbexCli.Result text = cli("status", "s");
        assertTrue(text.out().contains("3 open conflict(s)"), text::toString);
        assertTrue(Pattern.compile("(?m)^WARNING: 3 conflict\\(s\\) held for an operator").matcher(text.out()).find(), text::toString);
        assertTrue(text.out().contains("CLOCK SKEW (LAST ROUND)"), text::toString);
    }

    @Test
    @Order(4)
    void showPutsTheSidesSideBySide() {
        IbexCli.Result shown = cli("conflicts", "show", String.valueOf(ids.get("1")));
        String out = shown.out();
        assertTrue(out.startsWith("conflict " + ids.get("1") + ": sync s, table public.t, key 1"), shown::toString);
        assertTrue(Pattern.compile("COLUMN\\s+a \\(a\\) @ \\S+ v\\[[\\d, ]+\\]\\s+b \\(b\\) @ \\S+ v\\[[\\d, ]+\\]\\s+DIFFERS").matcher(out).find(),
                () -> "one column per side, headed node (origin) @ time v[version]: " + shown);
        assertTrue(Pattern.compile("(?m)^\\s*v\\s+from a\\s+from b\\s+\\*\\s*$").matcher(out).find(), () -> "v differs: " + shown);
        assertTrue(Pattern.compile("(?m)^\\s*n\\s+10\\s+20\\s+\\*\\s*$").matcher(out).find(), () -> "n differs: " + shown);
        assertTrue(Pattern.compile("(?m)^\\s*id\\s+1\\s+1\\s*$").matcher(out).find(), () -> "id is the same: " + shown);
        assertTrue(Pattern.compile("(?m)^status:\\s+open").matcher(out).find(), shown::toString);
        assertTrue(Pattern.compile("(?m)^strategy:\\s+manual$").matcher(out).find(), shown::toString);
        assertTrue(Pattern.compile("(?m)^winner:\\s+-$").matcher(out).find(), shown::toString);

        IbexCli.Result deleted = cli("conflicts", "show", String.valueOf(ids.get("3")));
        assertTrue(Pattern.compile("(?m)^\\s*v\\s+a3\\s+\\(deleted\\)\\s+\\*\\s*$").matcher(deleted.out()).find(),
                () -> "b's side is a deletion: " + deleted);

        JsonNode doc = cli("conflicts", "show", String.valueOf(ids.get("1")), "--json").json();
        assertEquals(ids.get("1").longValue(), doc.path("id").asLong(), doc::toString);
        assertEquals("open", doc.path("status").asText(), doc::toString);
        assertEquals("[\"v\",\"n\"]", doc.path("differingColumns").toString(), doc::toString);
        List<String> values = new ArrayList<>();
        doc.path("sides").forEach(side -> values.add(side.path("node").asText() + "=" + side.path("row").path("v").asText()));
        assertEquals(List.of("a=from a", "b=from b"), values.stream().sorted().toList(), doc::toString);
    }

    @Test
    @Order(5)
    void badInputsAreRefusedInOneLineAndChangeNothing() {
        String id = String.valueOf(ids.get("1"));
        JsonNode decided = Await.value("the conflict of s2 decided by latest", ARRIVAL, () -> cli("conflicts", "s2", "--json").json(),
                j -> j.size() == 1);
        String decidedId = decided.get(0).path("id").asText();
        assertEquals("decided", decided.get(0).path("status").asText(), decided::toString);
        assertEquals("b", decided.get(0).path("winner").asText(), () -> "the later write wins: " + decided);
        List<String> before = summary(cli("conflicts", "--json").json());

        refused("999999", "conflicts", "resolve", "999999", "--take", "b");
        refused("999999", "conflicts", "show", "999999");
        refused("abc", "conflicts", "show", "abc");
        refused("mutually exclusive", "conflicts", "resolve", id, "--take", "b", "--row", "{\"id\": 1, \"v\": \"x\", \"n\": 1}");
        refused("--take", "conflicts", "resolve", id);
        refused("zz", "conflicts", "resolve", id, "--take", "zz");
        refused("missing: [n]", "conflicts", "resolve", id, "--row", "{\"id\": 1, \"v\": \"x\"}");
        refused("unknown: [w]", "conflicts", "resolve", id, "--row", "{\"id\": 1, \"v\": \"x\", \"n\": 1, \"w\": 2}");
        refused("not valid JSON", "conflicts", "resolve", id, "--row", "{id: 1");
        refused("JSON object", "conflicts", "resolve", id, "--row", "[1, \"x\", 1]");
        refused("decided", "conflicts", "resolve", decidedId, "--take", "a");
        refused("nosuch", "conflicts", "s", "--table", "nosuch");
        refused("s2", "conflicts", "s", "--sync", "s2");
        refused("--limit 0", "conflicts", "--limit", "0");
        refused("--since", "conflicts", "--since", "soon");
        refused("nosuch", "conflicts", "--sync", "nosuch");

        assertEquals(before, summary(cli("conflicts", "--json").json()), "refused commands changed the journal");
        assertEquals(List.of(List.of("w from b")), rows("a", "select v from w where id = 1"), "latest applied b's write on a");
    }

    @Test
    @Order(6)
    void resolveTakeAppliesThatSideOnEveryNode() {
        String id = String.valueOf(ids.get("1"));
        IbexCli.Result r = cli("conflicts", "resolve", id, "--take", "b");
        assertEquals("conflict " + id + " resolved: take b; the next round of sync s applies it everywhere", r.out().strip(), r::toString);
        for (String n : NODES) {
            awaitRows(n, "select v, n::text from t where id = 1", List.of(List.of("from b", "20")));
        }
        JsonNode entry = Await.value("conflict " + id + " applied", ARRIVAL, () -> cli("conflicts", "show", id, "--json").json(),
                j -> j.path("status").asText().equals("applied"));
        assertEquals("b", entry.path("winner").asText(), entry::toString);
        assertEquals("take b", entry.path("resolvedBy").asText(), entry::toString);
        IbexCli.Result shown = cli("conflicts", "show", id);
        assertTrue(Pattern.compile("(?m)^resolved by:\\s+take b at \\S+").matcher(shown.out()).find(), shown::toString);
        refused("applied", "conflicts", "resolve", id, "--take", "a");
    }

    @Test
    @Order(7)
    void resolveRowWritesThatRowOnEveryNode() {
        String id = String.valueOf(ids.get("2"));
        IbexCli.Result r = cli("conflicts", "resolve", id, "--row", "{\"id\": 2, \"v\": \"operator's row\", \"n\": 7}");
        assertTrue(r.out().startsWith("conflict " + id + " resolved: "), r::toString);
        for (String n : NODES) {
            awaitRows(n, "select v, n::text from t where id = 2", List.of(List.of("operator's row", "7")));
        }
        Await.until("conflict " + id + " applied", ARRIVAL,
                () -> cli("conflicts", "show", id, "--json").json().path("status").asText().equals("applied"));
    }

    @Test
    @Order(8)
    void takingTheUpdateOverADeletionRestoresTheRowAndNothingIsLeftOpen() {
        String id = String.valueOf(ids.get("3"));
        cli("conflicts", "resolve", id, "--take", "a");
        for (String n : NODES) {
            awaitRows(n, "select v, n::text from t where id = 3", List.of(List.of("a3", "30")));
        }
        Await.until("no conflict of s open", ARRIVAL, () -> cli("conflicts", "s", "--open", "--json").json().isEmpty());
        JsonNode st = Await.value("status of s without held conflicts", ARRIVAL, () -> cli("status", "s", "--json").json().get(0),
                j -> j.path("openConflicts").asLong(-1) == 0);
        assertFalse(st.path("warnings").toString().contains("held for an operator"), st::toString);
        assertEquals(rows("a", "select * from t order by id"), rows("b", "select * from t order by id"), "t converged");
        JsonNode all = cli("conflicts", "s", "--json").json();
        all.forEach(e -> assertEquals("applied", e.path("status").asText(), all::toString));
    }

    @Test
    @Order(9)
    void syncSetChangesOnlyTheGivenSettings() {
        IbexCli.Result r = cli("sync", "set", "s2", "--strategy", "manual");
        assertTrue(r.out().startsWith("sync s2 updated: strategy manual, priority (none), interval 1s, journal retention 7d, "
                + "max clock skew 250ms"), r::toString);
        JsonNode s2 = syncEntry("s2");
        assertEquals("manual", s2.path("strategy").asText(), s2::toString);
        assertEquals(1000, s2.path("intervalMillis").asLong(), s2::toString);
        assertEquals(Duration.ofDays(7).toMillis(), s2.path("journalRetentionMillis").asLong(), s2::toString);

        cli("sync", "set", "s2", "--strategy", "priority", "--priority", "b,a", "--journal-retention", "2h",
                "--max-clock-skew", "2s", "--interval", "3s", "--purge-interval", "0s", "--node-retention", "12h");
        JsonNode changed = syncEntry("s2");
        assertEquals("priority", changed.path("strategy").asText(), changed::toString);
        assertEquals("[\"b\",\"a\"]", changed.path("priority").toString(), changed::toString);
        assertEquals(Duration.ofHours(2).toMillis(), changed.path("journalRetentionMillis").asLong(), changed::toString);
        assertEquals(2000, changed.path("maxClockSkewMillis").asLong(), changed::toString);
        assertEquals(3000, changed.path("intervalMillis").asLong(), changed::toString);
        assertEquals(0, changed.path("purgeIntervalMillis").asLong(), changed::toString);
        assertEquals(Duration.ofHours(12).toMillis(), changed.path("nodeRetentionMillis").asLong(), changed::toString);
        assertEquals("manual", syncEntry("s").path("strategy").asText(), "sync s is untouched");
        IbexCli.Result list = cli("sync", "list");
        assertTrue(Pattern.compile("(?m)^\\s*s2\\s+active\\s+\\[a, b\\]\\s+1\\s+priority \\[b, a\\]\\s+3s\\s+2h\\s+2s\\s+0ms\\s+12h\\s*$")
                .matcher(list.out()).find(), list::toString);

        JsonNode before = cli("sync", "list", "--json").json();
        refused("nothing to change", "sync", "set", "s2");
        refused("zz", "sync", "set", "s2", "--priority", "a,zz");
        refused("0s", "sync", "set", "s2", "--journal-retention", "0s");
        refused("soon", "sync", "set", "s2", "--max-clock-skew", "soon");
        refused("-1s", "sync", "set", "s2", "--purge-interval", "-1s");
        refused("0s", "sync", "set", "s2", "--node-retention", "0s");
        refused("bogus", "sync", "set", "s2", "--strategy", "bogus");
        refused("--priority", "sync", "set", "s", "--strategy", "priority");
        refused("--priority", "sync", "set", "s2", "--priority", "");
        refused("nosuch", "sync", "set", "nosuch", "--strategy", "latest");
        refused("0s", "sync", "add", "s3", "--nodes", "a,b", "--tables", "x", "--journal-retention", "0s");
        refused("-1s", "sync", "add", "s3", "--nodes", "a,b", "--tables", "x", "--max-clock-skew", "-1s");
        refused("--priority", "sync", "add", "s3", "--nodes", "a,b", "--tables", "x", "--strategy", "priority");
        assertEquals(before, cli("sync", "list", "--json").json(), "refused commands changed a sync");
    }

    @Test
    @Order(10)
    void newCommandsHaveHelp() {
        for (List<String> path : List.of(List.of("conflicts"), List.of("conflicts", "show"), List.of("conflicts", "resolve"),
                List.of("sync", "set"), List.of("sync", "add"))) {
            IbexCli.Result r = IbexCli.run(IbexCli.concat(path, "--help"));
            assertEquals(0, r.code(), r::toString);
            assertTrue(r.out().startsWith("Usage: ibex " + String.join(" ", path)), r::toString);
        }
        String add = IbexCli.run("sync", "add", "--help").out().replaceAll("\\s+", "");
        for (String word : List.of("latest", "priority", "manual", "custom:CLASS[:ARGUMENT]", "--journal-retention=DURATION",
                "--max-clock-skew=DURATION")) {
            assertTrue(add.contains(word), () -> "sync add --help mentions " + word + ": " + add);
        }
        String conflicts = IbexCli.run("conflicts", "--help").out();
        for (String word : List.of("--sync", "--open", "--table", "--since", "--limit", "--json", "show", "resolve")) {
            assertTrue(conflicts.contains(word), () -> "conflicts --help mentions " + word + ": " + conflicts);
        }
    }

    // ---- helpers

    private IbexCli.Result cli(String... args) {
        return IbexCli.ok(IbexCli.concat(List.of(args), "--control", control));
    }

    /**
     * Runs a command that must be refused: exit 2 and one line "ibex: ..." naming {@code badValue}
     * on the command's standard error, nothing on its standard output, no stack trace.
     */
    private IbexCli.Result refused(String badValue, String... args) {
        IbexCli.Result r = IbexCli.run(IbexCli.concat(List.of(args), "--control", control));
        assertEquals(2, r.code(), () -> "exit code 2 for bad usage: " + r);
        List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), () -> "exactly one line on standard error: " + r);
        assertTrue(lines.get(0).startsWith("ibex: "), () -> "the line starts with 'ibex: ': " + r);
        assertTrue(lines.get(0).contains(badValue), () -> "the line names '" + badValue + "': " + r);
        assertFalse(lines.get(0).contains("Exception"), () -> "no exception in the message: " + r);
        assertEquals("", r.out(), () -> "nothing on standard output: " + r);
        return r;
    }

    /** What an operator's command may change in journal entries: id, status, winner, who resolved. */
    private static List<String> summary(JsonNode entries) {
        List<String> out = new ArrayList<>();
        entries.forEach(e -> out.add(e.path("id").asText() + " " + e.path("status").asText() + " " + e.path("winner").asText()
                + " " + e.path("resolvedBy").asText()));
        return out;
    }

    private JsonNode syncEntry(String sync) {
        for (JsonNode s : cli("sync", "list", "--json").json()) {
            if (s.path("name").asText().equals(sync)) {
                return s;
            }
        }
        throw new AssertionError("sync list --json has no sync " + sync);
    }

    private void awaitRows(String node, String sql, List<List<String>> expected) {
        Await.until(sql + " = " + expected + " on node " + node, ARRIVAL, () -> rows(node, sql).equals(expected));
    }

    private long count(String node, String sql) {
        try (Connection c = servers.get(node).connect(DB)) {
            return Sql.count(c, sql);
        } catch (SQLException e) {
            throw new Sql.UncheckedSqlException(sql, e);
        }
    }

    private List<List<String>> rows(String node, String sql) {
        try (Connection c = servers.get(node).connect(DB)) {
            return Sql.rows(c, sql);
        } catch (SQLException e) {
            throw new Sql.UncheckedSqlException(sql, e);
        }
    }

    private void exec(String node, String sql) {
        servers.get(node).execute(DB, sql);
    }
}
