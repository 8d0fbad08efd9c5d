package dev.ibex.cliit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ibex.testkit.Await;
import dev.ibex.testkit.PgServer;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.temporal.ChronoUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer.OrderAnnotation;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestInstance.Lifecycle;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Issue 13, visibility: {@code ibex engines} and the owner in {@code ibex status}, read from the
 * control database alone. Before any engine ran there is none and the sync has no owner; an
 * in-process engine takes sync {@code s} (nodes a and b) and shows as up, owning it; once it has
 * stopped it shows as stopped and the sync has no owner again. Last, an owner whose engine went
 * silent (its row written here, as a crashed engine leaves it) shows as not responding, and the
 * fence rejections recorded for the sync are printed. The steps run in order and build on each other.
 */
@TestInstance(Lifecycle.PER_CLASS)
@TestMethodOrder(OrderAnnotation.class)
class EnginesStatusIT {
    private static final Duration WAIT = Duration.ofSeconds(20);

    private TwoNodeSync nodes;
    private PgServer a;
    private String control;
    private String engineName;

    @BeforeAll
    void servers() {
        nodes = TwoNodeSync.start("engines");
        a = nodes.a;
        control = nodes.control;
    }

    @AfterAll
    void stop() {
        nodes.close();
    }

    @Test
    @Order(1)
    void beforeAnyEngineRanThereIsNoneAndNoOwner() {
        IbexCli.Result human = cli("engines");
        assertEquals("no engine has run against this control database: start one with 'ibex start'", human.out().strip(),
                human::toString);
        JsonNode json = cli("engines", "--json").json();
        assertTrue(json.isArray() && json.isEmpty(), json::toString);

        JsonNode s = status();
        assertTrue(s.has("owner") && s.get("owner").isNull(), s::toString);
        assertEquals(0, s.path("fenceRejections").asLong(-1), s::toString);
        assertTrue(s.get("lastFenceRejection").isNull() && s.get("lastFenceRejectionAt").isNull(), s::toString);
        IbexCli.Result text = cli("status", "s");
        assertTrue(text.out().contains("\n  owner: none (no engine runs this sync)\n"), text::toString);
        assertFalse(text.out().contains("fence rejections"), text::toString);
    }

    @Test
    @Order(2)
    void aRunningEngineOwnsTheSyncAndIsListedAsUp() {
        engineName = nodes.startEngine().name();
        JsonNode s = Await.value("engine " + engineName + " owns s and a round ran", WAIT, this::status,
                st -> engineName.equals(st.path("owner").path("engine").asText()) && !st.path("lastRound").isNull());
        JsonNode owner = s.get("owner");
        assertTrue(owner.get("address").isNull(), () -> "a standalone engine has no address: " + s);
        assertEquals("up", owner.path("state").asText(), s::toString);
        long epoch = owner.path("epoch").asLong();
        assertTrue(epoch >= 1, () -> "taking the sync raised its epoch: " + s);
        OffsetDateTime since = OffsetDateTime.parse(owner.path("since").asText());
        assertTrue(Duration.between(since.toInstant(), Instant.now()).abs().compareTo(WAIT) < 0, s::toString);

        JsonNode listed = Await.value("engines --json lists " + engineName + " owning one sync", WAIT,
                () -> cli("engines", "--json").json(), e -> e.size() == 1 && e.get(0).path("syncsOwned").asInt() == 1);
        JsonNode e = listed.get(0);
        assertEquals(engineName, e.path("name").asText(), listed::toString);
        assertEquals("up", e.path("state").asText(), listed::toString);
        assertTrue(e.get("address").isNull(), listed::toString);
        assertEquals(ProcessHandle.current().pid(), e.path("pid").asLong(), listed::toString);
        assertFalse(e.path("version").asText().isEmpty(), listed::toString);
        assertTrue(e.path("heartbeatAgeSeconds").asLong(-1) >= 0 && e.path("heartbeatAgeSeconds").asLong() <= 10, listed::toString);
        assertFalse(Instant.parse(e.path("startedAt").asText()).isAfter(Instant.parse(e.path("lastHeartbeatAt").asText())),
                listed::toString);

        IbexCli.Result table = cli("engines");
        assertTrue(table.out().contains("LAST HEARTBEAT"), table::toString);
        assertTrue(table.out().lines().anyMatch(l -> l.matches("\\s*" + quote(engineName) + "\\s+up\\s+1\\s+\\S+\\s+\\d+ s ago\\s*")),
                table::toString);
        IbexCli.Result text = cli("status", "s");
        assertTrue(text.out().contains("\n  owner: engine " + engineName + " (standalone) since "
                + since.toInstant().truncatedTo(ChronoUnit.SECONDS) + ", epoch " + epoch + "\n"), text::toString);
    }

    @Test
    @Order(3)
    void aStoppedEngineReleasedItsSyncAndIsListedAsStopped() {
        nodes.stopEngine();
        JsonNode listed = cli("engines", "--json").json();
        assertEquals(1, listed.size(), listed::toString);
        assertEquals(engineName, listed.get(0).path("name").asText(), listed::toString);
        assertEquals("stopped", listed.get(0).path("state").asText(), listed::toString);
        assertEquals(0, listed.get(0).path("syncsOwned").asInt(-1), listed::toString);
        IbexCli.Result table = cli("engines");
        assertTrue(table.out().lines().anyMatch(l -> l.matches("\\s*" + quote(engineName) + "\\s+stopped\\s+0\\s.*")), table::toString);

        JsonNode s = status();
        assertTrue(s.get("owner").isNull(), () -> "the engine released s when it stopped: " + s);
        IbexCli.Result text = cli("status", "s");
        assertTrue(text.out().contains("\n  owner: none (no engine runs this sync)\n"), text::toString);
    }

    /** No engine runs now, so the rows written here stay as a crashed owner would have left them. */
    @Test
    @Order(4)
    void anOwnerWhoseEngineWentSilentIsNotRespondingAndFenceRejectionsAreShown() {
        a.execute("ibex_control",
                "insert into ibex.engine (name, address, state, version, pid, started_at, heartbeat_at, syncs_owned) "
                        + "values ('eng-2', '127.0.0.1:25521', 'up', 'dev', 4242, now() - interval '1 hour', "
                        + "now() - interval '42 seconds', 1)",
                "update ibex.sync set epoch = epoch + 1, owner_engine = 'eng-2', owner_since = '2026-12-06 23:40:01.5+00', "
                        + "fence_rejections = 3, last_fence_rejection = 'apply to b', "
                        + "last_fence_rejection_at = '2026-12-06 23:41:00+00' where name = 's'");
        JsonNode s = status();
        JsonNode owner = s.get("owner");
        assertEquals("eng-2", owner.path("engine").asText(), s::toString);
        assertEquals("127.0.0.1:25521", owner.path("address").asText(), s::toString);
        assertEquals("not responding", owner.path("state").asText(), s::toString);
        assertEquals(3, s.path("fenceRejections").asLong(), s::toString);
        assertEquals("apply to b", s.path("lastFenceRejection").asText(), s::toString);
        assertEquals(Instant.parse("2026-12-06T23:41:00Z"), OffsetDateTime.parse(s.path("lastFenceRejectionAt").asText()).toInstant(),
                s::toString);
        long epoch = owner.path("epoch").asLong();

        IbexCli.Result text = cli("status", "s");
        assertTrue(text.out().matches("(?s).*\n  owner: engine eng-2 \\(127\\.0\\.0\\.1:25521\\) since 2026-12-06T23:40:01Z, epoch "
                + epoch + ", not responding for 4[2-4] s\n.*"), text::toString);
        assertTrue(text.out().contains("\n  fence rejections: 3, the last at 2026-12-06T23:41:00Z: apply to b\n"), text::toString);

        IbexCli.Result table = cli("engines");
        assertTrue(table.out().lines().anyMatch(l -> l.matches("\\s*eng-2\\s+127\\.0\\.0\\.1:25521\\s+not responding\\s+1\\s+dev\\s+4[2-4] s ago\\s*")),
                table::toString);
    }

    private JsonNode status() {
        JsonNode all = cli("status", "s", "--json").json();
        assertEquals(1, all.size(), all::toString);
        return all.get(0);
    }

    private IbexCli.Result cli(String... args) {
        return nodes.ok(args);
    }

    private static String quote(String s) {
        return java.util.regex.Pattern.quote(s);
    }
}
