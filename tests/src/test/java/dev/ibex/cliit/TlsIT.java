package dev.ibex.cliit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.testkit.Await;
import dev.ibex.testkit.PgServer;
import dev.ibex.testkit.TestCertificates;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer.OrderAnnotation;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestInstance.Lifecycle;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Nodes reached over TLS with PgJDBC's own URL settings (issue 4, item 7). Servers a and b run with
 * {@code ssl = on} and a certificate for 127.0.0.1 signed by a CA made at test time. Node a's URL
 * says {@code sslmode=verify-full&sslrootcert=CA}, node b's {@code sslmode=require}, and the control
 * database (on a) is reached with verify-full too. Ibex passes these settings to the driver as
 * they are: the engine's sessions are encrypted (pg_stat_ssl), a wrong root certificate or host
 * name is refused, and database {@code tlsonly} on b, which pg_hba opens to TLS sessions only,
 * refuses a URL with {@code sslmode=disable}. Every refusal is one line naming the node, exit 2,
 * and leaves the configuration as it was.
 */
@TestInstance(Lifecycle.PER_CLASS)
@TestMethodOrder(OrderAnnotation.class)
class TlsIT {
    private static final String DB = "app";
    private static final Duration ARRIVAL = Duration.ofSeconds(30);
    /** The engine's sessions on the current database; "and not s.ssl" appended counts the unencrypted ones. */
    private static final String ENGINE_SESSIONS = "select count(*) from pg_stat_ssl s join pg_stat_activity using (pid) "
            + "where application_name = 'ibex' and datname = current_database()";
    private static final String SESSION_DETAIL = "select pid, s.ssl, s.version, state, query from pg_stat_ssl s "
            + "join pg_stat_activity using (pid) where application_name = 'ibex'";

    private PgServer a;
    private PgServer b;
    private TestCertificates certs;
    private String control;
    private InProcessEngine engine;

    @BeforeAll
    void startServers() throws Exception {
        CliLogging.useShippedConfiguration();
        certs = TestCertificates.create(Files.createTempDirectory(Path.of("target"), "tls-").toAbsolutePath());
        a = PgServer.start("tls-a");
        b = PgServer.start("tls-b");
        for (PgServer s : List.of(a, b)) {
            s.enableTls(certs);
            s.createDatabase(DB);
            s.execute(DB, "create table t (id int primary key, v text)");
        }
        a.createDatabase("ibex_control");
        control = verifyFull(a, "ibex_control", certs.ca());
        b.createDatabase("tlsonly");
        b.execute("tlsonly", "create table t (id int primary key, v text)");
        b.prependHba("hostnossl tlsonly all all reject");
        Await.until("b to refuse sessions without TLS on database tlsonly", ARRIVAL,
                () -> "28000".equals(loginFailure(url(b, "tlsonly", "sslmode=disable"))));
    }

    @AfterAll
    void stopEverything() {
        try {
            if (engine != null) {
                engine.close();
            }
        } finally {
            CliLogging.useTestConfiguration();
            for (PgServer s : new PgServer[] {a, b}) {
                if (s != null) {
                    s.close();
                }
            }
        }
    }

    @Test
    @Order(1)
    void nodesWithTlsUrlsReplicateBothWaysOverEncryptedSessions() {
        cli("setup");
        cli("node", "add", "a", "--url", verifyFull(a, DB, certs.ca()));
        cli("node", "add", "b", "--url", url(b, DB, "sslmode=require"));
        cli("sync", "add", "s", "--nodes", "a,b", "--tables", "t", "--interval", "1s");
        engine = InProcessEngine.start(control);

        a.execute(DB, "insert into t values (1, 'from a')");
        b.execute(DB, "insert into t values (2, 'from b')");
        for (PgServer s : List.of(a, b)) {
            Await.until(s.name() + " holds both rows", ARRIVAL, () -> s.count(DB, "select count(*) from t where id in (1, 2)") == 2);
        }
        for (PgServer s : List.of(a, b)) {
            Await.until("the engine holds a session on " + s.name(), ARRIVAL, () -> s.count(DB, ENGINE_SESSIONS) > 0);
            assertEquals(0, s.count(DB, ENGINE_SESSIONS + " and not s.ssl"),
                    () -> "every engine session on " + s.name() + " is encrypted: " + s.rows(DB, SESSION_DETAIL));
        }
        Await.until("the engine holds a session on the control database", ARRIVAL,
                () -> a.count("ibex_control", ENGINE_SESSIONS) > 0);
        assertEquals(0, a.count("ibex_control", ENGINE_SESSIONS + " and not s.ssl"),
                "the engine's sessions on the control database are encrypted");
    }

    @Test
    @Order(2)
    void aWrongRootCertificateIsRefused() {
        refused("badroot", "node", "add", "badroot", "--url", verifyFull(a, DB, certs.otherCa()));
    }

    @Test
    @Order(2)
    void aWrongHostNameIsRefused() {
        String url = verifyFull(a, DB, certs.ca()).replace("//127.0.0.1:", "//localhost:");
        refused("badhost", "node", "add", "badhost", "--url", url);
    }

    @Test
    @Order(2)
    void aMissingRootCertificateFileIsRefused() {
        refused("noroot", "node", "add", "noroot", "--url", verifyFull(a, DB, certs.dir().resolve("missing.crt")));
    }

    @Test
    @Order(2)
    void aServerThatRequiresTlsRefusesAUrlWithoutIt() {
        IbexCli.Result r = refused("plain", "node", "add", "plain", "--url", url(b, "tlsonly", "sslmode=disable"));
        assertTrue(r.stderr().contains("sslmode"), () -> "the message points at sslmode: " + r);
        String before = nodes();
        cli("node", "add", "tlsonly", "--url", url(b, "tlsonly", "sslmode=require"));
        assertFalse(before.contains("tlsonly"));
        cli("node", "remove", "tlsonly");
    }

    /** Runs a command that must be refused: exit 2, one line naming the node, no stack trace, nothing changed. */
    private IbexCli.Result refused(String node, String... args) {
        String before = nodes();
        IbexCli.Result r = IbexCli.run(IbexCli.concat(List.of(args), "--control", control));
        assertEquals(2, r.code(), () -> "exit 2: " + r);
        assertFalse(r.hasStackTrace(), () -> "no stack trace: " + r);
        assertEquals(1, r.stderrLines().size(), () -> "one line on standard error: " + r);
        String line = r.stderrLines().get(0);
        assertTrue(line.startsWith("ibex: node " + node + " "), () -> "the line names node " + node + ": " + r);
        assertEquals("", r.stdout(), r::toString);
        assertEquals(before, nodes(), () -> "a refused command changed the nodes: " + r);
        return r;
    }

    private String nodes() {
        return IbexCli.ok("node", "list", "--json", "--control", control).json().toString();
    }

    private IbexCli.Result cli(String... args) {
        return IbexCli.ok(IbexCli.concat(List.of(args), "--control", control));
    }

    private static String verifyFull(PgServer s, String db, Path root) {
        return url(s, db, "sslmode=verify-full&sslrootcert=" + root);
    }

    private static String url(PgServer s, String db, String ssl) {
        return s.jdbcUrl(db) + "&" + ssl;
    }

    /** The SQLSTATE of a failed login, or null if the login succeeds. */
    private static String loginFailure(String url) {
        try (Connection c = DriverManager.getConnection(url)) {
            return null;
        } catch (SQLException e) {
            return e.getSQLState();
        }
    }
}
