package dev.ibex.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ibex.cli.Main;
import dev.ibex.testkit.Await;
import dev.ibex.testkit.PgServer;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code ibex start --metrics-port} as users run it (issue 15): a separate engine JVM replicating
 * a sync over three real servers, with its control database on a fourth. The test scrapes and
 * parses {@code /metrics}: every family the dashboards and alerts rely on is there with exactly
 * its labels; the counters count what the rounds did (rows written to each node, the one conflict
 * the test made before the engine started); the node gauges follow a node's outage and return;
 * the JVM's metrics are there; every {@code ibex_*} name that docs/grafana and docs/prometheus use
 * is exported. {@code /health} answers 200 while the engine reaches its control database and 503
 * while that database is down.
 */
class MetricsIT {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final String SYNC = "s";
    private static final String TABLE = "public.items";
    private static final List<String> NODES = List.of("a", "b", "c");
    private static final int ROWS = 50;
    /** Every family the dashboards and alerts rely on, with its type and labels (a histogram's buckets add le). */
    private static final Map<String, Family> REQUIRED = Map.of(
            "ibex_node_reachable", new Family("gauge", "sync", "node"),
            "ibex_pending_keys", new Family("gauge", "sync", "node"),
            "ibex_lag_seconds", new Family("gauge", "sync", "node"),
            "ibex_rounds_total", new Family("counter", "sync", "outcome"),
            "ibex_round_duration_seconds", new Family("histogram", "sync"),
            "ibex_rows_applied_total", new Family("counter", "sync", "node"),
            "ibex_conflicts_total", new Family("counter", "sync", "table", "strategy"),
            "ibex_clock_skew_seconds", new Family("gauge", "sync", "node"),
            "ibex_ledger_rows", new Family("gauge", "sync", "node"),
            "ibex_table_paused", new Family("gauge", "sync", "table"));

    private record Family(String type, Set<String> labels) {
        Family(String type, String... labels) {
            this(type, Set.of(labels));
        }
    }

    private static PgServer control;
    private static Map<String, PgServer> nodes;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @BeforeAll
    static void servers() {
        control = PgServer.start("metrics-control");
        control.createDatabase("ibex_control");
        nodes = NODES.stream().collect(Collectors.toMap(n -> n, n -> PgServer.start("metrics-" + n)));
        nodes.values().forEach(s -> s.execute("postgres", "create table items (id bigint primary key, v text not null)"));
    }

    @AfterAll
    static void stop() {
        nodes.values().forEach(PgServer::close);
        control.close();
    }

    @Test
    void servesMetricsAndHealthOfARealRun() throws Exception {
        String url = control.jdbcUrl("ibex_control");
        assertEquals(0, Main.run("setup", "--control", url));
        for (String n : NODES) {
            assertEquals(0, Main.run("node", "add", n, "--url", nodes.get(n).jdbcUrl("postgres"), "--control", url));
        }
        assertEquals(0, Main.run("sync", "add", SYNC, "--nodes", String.join(",", NODES), "--tables", "items", "--interval", "1s",
                "--control", url));
        // before the engine runs: a and b insert the same key (one conflict), a inserts ROWS more
        node("a").execute("postgres", "insert into items values (1, 'from a')",
                "insert into items select i, 'row ' || i from generate_series(100, " + (99 + ROWS) + ") i");
        node("b").execute("postgres", "insert into items values (1, 'from b')");

        try (EngineProcess engine = EngineProcess.start(url, List.of("--metrics-port", "0"))) {
            engine.awaitOutput("ibex engine running", WAIT);
            Matcher m = Pattern.compile("metrics at (http://\\S+)/metrics").matcher(engine.output());
            assertTrue(m.find(), engine::output);
            String base = m.group(1);
            for (String n : NODES) {
                Await.until(n + " has every row", WAIT, () -> node(n).count("postgres", "select count(*) from items") == ROWS + 1);
            }

            Map<String, PromText.Family> first = Await.value("the rounds' rows and conflict counted", WAIT, () -> scrape(base),
                    f -> f.containsKey("ibex_rows_applied_total") && f.containsKey("ibex_conflicts_total")
                            && f.get("ibex_rows_applied_total").value("sync", SYNC, "node", "c") == ROWS + 1);
            Files.writeString(Path.of("target", "metrics-scrape.txt"), get(base + "/metrics").body());
            requiredFamiliesWithTheirLabels(first);
            countersCountWhatTheRoundsDid(first);
            gaugesDescribeTheNodes(base);
            double rounds = total(first.get("ibex_rounds_total"));
            Await.until("more rounds counted", WAIT, () -> total(scrape(base).get("ibex_rounds_total")) > rounds);
            assertTrue(scrape(base).keySet().stream().anyMatch(f -> f.startsWith("jvm_memory")), "the JVM's standard metrics");
            docsUseOnlyExportedNames(scrape(base));
            HttpResponse<String> health = get(base + "/health");
            assertEquals(200, health.statusCode(), health::body);
            assertEquals("up", new ObjectMapper().readTree(health.body()).path("status").asText(), health::body);

            nodeOutageShowsAndEnds(base);
            controlOutageMakesHealth503(base);
            engine.assertAlive();
        }
    }

    @Test
    void badMetricsOptionsAreUsageErrors() {
        String url = "jdbc:postgresql://127.0.0.1:1/nowhere";
        assertEquals(2, Main.run("start", "--metrics-port", "70000", "--control", url), "port out of range");
        assertEquals(2, Main.run("start", "--metrics-port", "http", "--control", url), "port not a number");
        assertEquals(2, Main.run("start", "--metrics-bind", "0.0.0.0", "--control", url), "--metrics-bind without --metrics-port");
    }

    private static void requiredFamiliesWithTheirLabels(Map<String, PromText.Family> families) {
        REQUIRED.forEach((name, want) -> {
            PromText.Family f = families.get(name);
            assertNotNull(f, () -> name + " is exported: " + families.keySet());
            assertEquals(want.type(), f.type(), name);
            assertFalse(f.samples().isEmpty(), () -> name + " has samples");
            for (PromText.Sample s : f.samples()) {
                Set<String> labels = new TreeSet<>(want.labels());
                if (s.name().endsWith("_bucket")) {
                    labels.add("le");
                }
                assertEquals(labels, new TreeSet<>(s.labels().keySet()), () -> "labels of " + s);
            }
        });
    }

    /**
     * Rows: a's ROWS rows to b and c; the conflicting key to all three nodes (the winner with the join
     * of both versions, which no node held); the conflict once, decided by 'latest'.
     */
    private static void countersCountWhatTheRoundsDid(Map<String, PromText.Family> f) {
        PromText.Family applied = f.get("ibex_rows_applied_total");
        assertEquals(1, applied.value("sync", SYNC, "node", "a"), applied::toString);
        assertEquals(ROWS + 1, applied.value("sync", SYNC, "node", "b"), applied::toString);
        assertEquals(ROWS + 1, applied.value("sync", SYNC, "node", "c"), applied::toString);
        assertEquals(1, f.get("ibex_conflicts_total").value("sync", SYNC, "table", TABLE, "strategy", "latest"));
        PromText.Family rounds = f.get("ibex_rounds_total");
        assertTrue(rounds.value("sync", SYNC, "outcome", "ok") >= 1, rounds::toString);
        assertEquals(Set.of("ok", "partial", "failed", "error"),
                rounds.samples().stream().map(s -> s.labels().get("outcome")).collect(Collectors.toSet()), rounds::toString);
        PromText.Family duration = f.get("ibex_round_duration_seconds");
        double count = duration.sample("ibex_round_duration_seconds_count", "sync", SYNC);
        assertTrue(count >= 1, duration::toString);
        assertEquals(count, duration.sample("ibex_round_duration_seconds_bucket", "sync", SYNC, "le", "+Inf"), duration::toString);
        assertTrue(duration.sample("ibex_round_duration_seconds_sum", "sync", SYNC) > 0, duration::toString);
    }

    /** Every node reachable, nothing pending once converged, a clock like the engine's (same machine), the table not paused. */
    private void gaugesDescribeTheNodes(String base) {
        Map<String, PromText.Family> f = Await.value("nothing pending on any node", WAIT, () -> scrape(base),
                x -> NODES.stream().allMatch(n -> x.get("ibex_pending_keys").value("sync", SYNC, "node", n) == 0));
        for (String n : NODES) {
            assertEquals(1, f.get("ibex_node_reachable").value("sync", SYNC, "node", n));
            assertEquals(0, f.get("ibex_lag_seconds").value("sync", SYNC, "node", n));
            double skew = f.get("ibex_clock_skew_seconds").value("sync", SYNC, "node", n);
            assertTrue(Math.abs(skew) < 5, () -> "node " + n + " shares the engine's clock: " + skew);
            double ledger = f.get("ibex_ledger_rows").value("sync", SYNC, "node", n);
            assertTrue(ledger >= 0 && ledger == Math.rint(ledger), () -> "ledger rows of " + n + ": " + ledger);
        }
        assertEquals(0, f.get("ibex_table_paused").value("sync", SYNC, "table", TABLE));
    }

    /** Every ibex_* name the Grafana dashboard and the alert rules use is exported, and together they use every required family. */
    private static void docsUseOnlyExportedNames(Map<String, PromText.Family> families) throws IOException {
        Path docs = Path.of(System.getProperty("user.dir")).resolve("../docs").normalize();
        String dashboard = Files.readString(docs.resolve("grafana/ibex-dashboard.json"));
        new ObjectMapper().readTree(dashboard);
        String alerts = Files.readString(docs.resolve("prometheus/ibex-alerts.yml"));
        Set<String> used = new TreeSet<>();
        for (String text : List.of(dashboard, alerts)) {
            Matcher m = Pattern.compile("\\bibex_[a-z0-9_]+").matcher(text);
            while (m.find()) {
                used.add(m.group());
            }
        }
        Set<String> usedFamilies = new TreeSet<>();
        for (String name : used) {
            PromText.Family f = PromText.familyOf(families, name);
            assertFalse(f.samples().isEmpty(), () -> name + " has samples");
            usedFamilies.add(f.name());
        }
        assertEquals(new TreeSet<>(REQUIRED.keySet()), usedFamilies, "the families the dashboard and the alerts use");
    }

    /** c stops: its gauge goes to 0 while a and b go on replicating; c restarts: back to 1, and it catches up. */
    private void nodeOutageShowsAndEnds(String base) {
        node("c").stop();
        Await.until("c reported unreachable", WAIT,
                () -> scrape(base).get("ibex_node_reachable").value("sync", SYNC, "node", "c") == 0);
        Map<String, PromText.Family> down = scrape(base);
        assertEquals(1, down.get("ibex_node_reachable").value("sync", SYNC, "node", "a"));
        assertTrue(down.get("ibex_pending_keys").with("node", "c").isEmpty(), "an unreachable node's pending keys are unknown, not 0");
        node("a").execute("postgres", "insert into items values (2, 'while c is down')");
        Await.until("b has the row a took while c is down", WAIT,
                () -> node("b").count("postgres", "select count(*) from items where id = 2") == 1);
        node("c").restart();
        Await.until("c reported reachable again", WAIT,
                () -> scrape(base).get("ibex_node_reachable").value("sync", SYNC, "node", "c") == 1);
        Await.until("c caught up", WAIT, () -> node("c").count("postgres", "select count(*) from items where id = 2") == 1);
    }

    /** The control database stops: /health answers 503 and says why, /metrics still answers. */
    private void controlOutageMakesHealth503(String base) throws IOException {
        control.stop();
        HttpResponse<String> down = Await.value("health 503", WAIT, () -> get(base + "/health"), r -> r.statusCode() == 503);
        JsonNode body = new ObjectMapper().readTree(down.body());
        assertEquals("down", body.path("status").asText(), down::body);
        assertEquals("running", body.path("engine").asText(), down::body);
        assertTrue(body.path("controlDatabase").asText().startsWith("unreachable"), down::body);
        HttpResponse<String> metrics = get(base + "/metrics");
        assertEquals(200, metrics.statusCode());
        assertTrue(PromText.parse(metrics.body()).containsKey("ibex_rounds_total"), "the counters stay while the control database is down");
    }

    private static double total(PromText.Family f) {
        return f.samples().stream().filter(s -> s.name().endsWith("_total")).mapToDouble(PromText.Sample::value).sum();
    }

    private Map<String, PromText.Family> scrape(String base) {
        HttpResponse<String> r = get(base + "/metrics");
        assertEquals(200, r.statusCode(), r::body);
        return PromText.parse(r.body());
    }

    private HttpResponse<String> get(String uri) {
        try {
            return http.send(HttpRequest.newBuilder(URI.create(uri)).timeout(Duration.ofSeconds(10)).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("GET " + uri, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static PgServer node(String name) {
        return nodes.get(name);
    }
}
