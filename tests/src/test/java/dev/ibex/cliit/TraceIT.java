package dev.ibex.cliit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ibex.it.Cluster;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer.OrderAnnotation;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestInstance.Lifecycle;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code ibex trace} (issue 15) on a cluster of three nodes a, b, c (behind TCP proxies). Sync
 * {@code s} (latest) replicates {@code t(id)} and {@code line(ord, sku)}. Before any round, a and
 * then b update t key 1 (a conflict that b's newer change wins), a deletes t key 2 and updates line
 * (1, B); rounds then run until the sync is quiet. Later steps add a change no round takes (pending
 * on b), run a round while c is cut off (a's change pending for c), and cut c off.
 */
@TestInstance(Lifecycle.PER_CLASS)
@TestMethodOrder(OrderAnnotation.class)
class TraceIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b", "c").withProxies();
    private static final List<String> NODES = List.of("a", "b", "c");

    @BeforeAll
    void setUp() {
        CLUSTER.execAll("create table t (id int primary key, v text)",
                "create table line (ord int, sku text, qty int, primary key (ord, sku))",
                "insert into t select i, 'seed ' || i from generate_series(1, 3) i",
                "insert into line values (1, 'A', 1), (1, 'B', 1), (3, 'x,y', 7)");
        // no purge while the test runs: it reads the ledger entries the rounds leave
        cli("sync", "add", "s", "--nodes", "a,b,c", "--tables", "t,line", "--purge-interval", "1d");

        CLUSTER.exec("a", "update t set v = 'from a' where id = 1");
        CLUSTER.exec("b", "update t set v = 'from b' where id = 1");
        CLUSTER.exec("a", "delete from t where id = 2");
        CLUSTER.exec("a", "update line set qty = 5 where ord = 1 and sku = 'B'");
        CLUSTER.converge("s");
    }

    @Test
    @Order(1)
    void aConflictedKeyShowsEachNodeTheJournalEntryAndWhy() {
        IbexCli.Result r = cli("trace", "s", "t", "1");
        String out = r.out();
        assertTrue(out.startsWith("row id=1 of public.t in sync s (strategy latest)"), r::toString);
        for (String n : NODES) {
            assertTrue(Pattern.compile("(?m)^\\s*" + n + "\\s+present\\s+\\{a:1, b:1\\}\\s+b\\s+\\S+Z\\s+-\\s+id=1, v=from b\\s*$")
                    .matcher(out).find(), () -> "node " + n + ": the row, version {a:1, b:1} written on b, nothing pending: " + r);
        }
        assertTrue(Pattern.compile("(?m)^  #\\d+ \\S+ decided by latest, winner b; sides: ").matcher(out).find(), r::toString);
        assertTrue(Pattern.compile("(?m)^  - conflict #\\d+ at \\S+ decided by latest: b's change \\(\\S+\\) is newer than a's change \\(\\S+\\)$")
                .matcher(out).find(), () -> "why: the decision: " + r);
        assertTrue(Pattern.compile("(?m)^  - all nodes hold version \\{a:1, b:1\\}: the row as written on b at \\S+$").matcher(out).find(),
                () -> "why: the agreement: " + r);
        assertTrue(out.contains("rounds: the round history records how many keys each round moved, not which ones; the last one started"),
                r::toString);
    }

    @Test
    @Order(2)
    void jsonHasEveryField() {
        JsonNode j = cli("trace", "s", "t", "1", "--json").json();
        assertEquals("s", j.path("sync").asText());
        assertEquals("public.t", j.path("table").asText());
        assertEquals("1", j.path("key").path("id").asText(), j::toString);
        assertEquals("latest", j.path("strategy").asText());
        assertEquals(3, j.path("nodes").size(), j::toString);
        for (JsonNode n : j.path("nodes")) {
            assertTrue(n.path("reachable").asBoolean(), n::toString);
            assertEquals("present", n.path("state").asText(), n::toString);
            assertEquals("from b", n.path("row").path("v").asText(), n::toString);
            assertEquals(1, n.path("ledger").path("version").path("a").asLong(), n::toString);
            assertEquals(1, n.path("ledger").path("version").path("b").asLong(), n::toString);
            assertEquals("b", n.path("ledger").path("origin").asText(), n::toString);
            assertFalse(n.path("ledger").path("changedAt").isNull(), n::toString);
            assertEquals(0, n.path("pending").path("unfolded").asLong(), n::toString);
            assertEquals(0, n.path("pending").path("notYetOn").size(), n::toString);
        }
        JsonNode conflict = j.path("conflicts").get(0);
        assertEquals("b", conflict.path("winner").asText(), j::toString);
        assertEquals("decided", conflict.path("status").asText(), j::toString);
        assertEquals(List.of("1"), List.of(conflict.path("key").get(0).asText()), j::toString);
        assertTrue(conflict.path("sides").size() >= 2, j::toString);
        assertFalse(j.path("lastRound").isNull(), j::toString);
        assertTrue(j.path("rounds").asText().contains("not which ones"), j::toString);
        assertTrue(j.path("why").size() >= 2, j::toString);
    }

    @Test
    @Order(3)
    void aDeletedKeyShowsItsTombstone() {
        JsonNode j = cli("trace", "s", "t", "2", "--json").json();
        for (JsonNode n : j.path("nodes")) {
            assertEquals("deleted", n.path("state").asText(), n::toString);
            assertTrue(n.path("row").isNull(), n::toString);
            assertEquals("a", n.path("ledger").path("origin").asText(), n::toString);
        }
        assertEquals(0, j.path("conflicts").size(), j::toString);
        assertTrue(j.path("why").toString().contains("all nodes hold version {a:1}: the row as deleted on a at"), j::toString);
        IbexCli.Result r = cli("trace", "s", "t", "2");
        assertTrue(r.out().contains("journal: no conflict on this key"), r::toString);
    }

    @Test
    @Order(4)
    void aCompositeKeyAsValuesOrJson() {
        JsonNode byValues = cli("trace", "s", "line", "1,B", "--json").json();
        JsonNode byJson = cli("trace", "s", "line", "{\"sku\": \"B\", \"ord\": 1}", "--json").json();
        assertEquals(byValues.path("nodes"), byJson.path("nodes"), "the same row either way");
        assertEquals("{\"ord\":\"1\",\"sku\":\"B\"}", byValues.path("key").toString(), "key columns in key order");
        for (JsonNode n : byValues.path("nodes")) {
            assertEquals("5", n.path("row").path("qty").asText(), n::toString);
            assertEquals("a", n.path("ledger").path("origin").asText(), n::toString);
        }
        JsonNode untouched = cli("trace", "s", "line", "{\"ord\": 3, \"sku\": \"x,y\"}", "--json").json();
        for (JsonNode n : untouched.path("nodes")) {
            assertEquals("7", n.path("row").path("qty").asText(), n::toString);
            assertTrue(n.path("ledger").isNull(), n::toString);
        }
        assertTrue(untouched.path("why").toString().contains("all nodes hold the same row and no change to it is on record"), untouched::toString);
    }

    @Test
    @Order(5)
    void badKeysAndNamesAreRefusedInOneLine() {
        refused("id integer", "trace", "s", "t", "abc");
        refused("ord integer, sku text", "trace", "s", "line", "1");
        refused("missing: [sku]", "trace", "s", "line", "{\"ord\": 1}");
        refused("unknown sync 'nosuch'", "trace", "nosuch", "t", "1");
        refused("not in sync s", "trace", "s", "nosuch", "1");
    }

    @Test
    @Order(6)
    void aChangeNoRoundTookIsPendingOnItsNode() {
        CLUSTER.exec("b", "update t set v = 'later on b' where id = 3");
        JsonNode j = cli("trace", "s", "t", "3", "--json").json();
        JsonNode b = node(j, "b");
        assertEquals(1, b.path("pending").path("unfolded").asLong(), b::toString);
        assertEquals("later on b", b.path("row").path("v").asText(), b::toString);
        assertEquals("seed 3", node(j, "a").path("row").path("v").asText());
        String why = j.path("why").toString();
        assertTrue(why.contains("b has 1 change(s) to this row that no round has taken yet"), why);
        assertTrue(why.contains("pending on b"), why);
        assertTrue(why.contains("the nodes differ until a round reconciles the pending change(s) above"), why);
        IbexCli.Result r = cli("trace", "s", "t", "3");
        assertTrue(Pattern.compile("(?m)^\\s*b\\s+present\\s+-\\s+1 unfolded\\s+id=3, v=later on b\\s*$").matcher(r.out()).find(), r::toString);
    }

    @Test
    @Order(7)
    void aChangeANodeMissedWhileCutOffIsPendingForIt() {
        CLUSTER.proxy("c").cut();
        CLUSTER.exec("a", "update t set v = 'while c was away' where id = 1");
        CLUSTER.round("s");
        CLUSTER.proxy("c").heal();
        JsonNode j = cli("trace", "s", "t", "1", "--json").json();
        JsonNode a = node(j, "a");
        assertEquals(List.of("c"), List.of(a.path("pending").path("notYetOn").get(0).asText()), a::toString);
        assertEquals(1, a.path("pending").path("notYetOn").size(), a::toString);
        assertEquals("while c was away", node(j, "b").path("row").path("v").asText(), "b took it in the round");
        assertEquals("from b", node(j, "c").path("row").path("v").asText(), "c did not");
        assertEquals(0, node(j, "b").path("pending").path("notYetOn").size(), j::toString);
        String why = j.path("why").toString();
        assertTrue(why.contains("a's change (version {a:2, b:1}, at "), why);
        assertTrue(why.contains(") is not applied on c yet: pending on a, the next round brings it"), why);
        IbexCli.Result r = cli("trace", "s", "t", "1");
        assertTrue(Pattern.compile("(?m)^\\s*a\\s+present\\s+\\{a:2, b:1\\}\\s+a\\s+\\S+Z\\s+not yet on c\\s+id=1, v=while c was away\\s*$")
                .matcher(r.out()).find(), r::toString);
    }

    @Test
    @Order(8)
    void anUnreachableNodeIsShownAndTheRestIsTraced() {
        CLUSTER.proxy("c").cut();
        IbexCli.Result r = cli("trace", "s", "t", "1");
        assertTrue(Pattern.compile("(?m)^\\s*c\\s+unknown\\s+\\(unreachable: see why\\)\\s*$").matcher(r.out()).find(), r::toString);
        assertTrue(r.out().contains("  - node c is unreachable: its row is unknown (node c ("), r::toString);
        assertTrue(r.out().contains("  - the nodes that could be read hold version {a:2, b:1}: the row as written on a at "), r::toString);
    }

    @Test
    @Order(9)
    void anUnreachableControlDatabaseExitsOne() {
        IbexCli.Result r = IbexCli.run("trace", "s", "t", "1", "--control", "jdbc:postgresql://127.0.0.1:1/ibex_control?user=x");
        assertEquals(1, r.code(), r::toString);
        assertEquals(1, r.err().lines().filter(l -> !l.isBlank()).count(), r::toString);
        assertTrue(r.err().startsWith("ibex: "), r::toString);
    }

    private static JsonNode node(JsonNode trace, String name) {
        return StreamSupport.stream(trace.path("nodes").spliterator(), false).filter(n -> n.path("node").asText().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no node " + name + " in " + trace));
    }

    private IbexCli.Result cli(String... args) {
        return IbexCli.ok(IbexCli.concat(List.of(args), "--control", CLUSTER.controlUrl()));
    }

    /** A command that must be refused: exit 2, one line "ibex: ..." naming {@code badValue}, nothing on standard output. */
    private void refused(String badValue, String... args) {
        IbexCli.run(IbexCli.concat(List.of(args), "--control", CLUSTER.controlUrl())).requireRefused(badValue);
    }
}
