package dev.ibex.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ibex.testkit.Await;
import dev.ibex.testkit.PgServer;
import dev.ibex.testkit.Sql;
import dev.ibex.testkit.TcpProxy;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestInstance.Lifecycle;

/**
 * Credentials never appear anywhere (issue 4, item 8). Servers a and b demand scram-sha-256
 * passwords for roles {@code ibex_node} (a different password on each) and {@code ibex_ctl} (the
 * control database, on a). A whole session runs through the shaded jar, each command in its own
 * JVM: node passwords come from variables named with {@code --password-env}, the control password
 * from the URL in {@code IBEX_CONTROL} and once from {@code --control-password-env}. It sets up,
 * adds nodes (node b through a {@link TcpProxy}), is refused a node URL carrying a password, a
 * wrong password and an unreachable node, runs {@code ibex start} with debug logging, replicates
 * both ways, makes a conflict, shows status, conflicts and checks, and cuts node b while the engine
 * runs. Then every distinctive password is looked for, and must be absent, in: every command's
 * standard output and error, the engine's log, every file under the working directory, every
 * table of the control database and of the nodes' ibex schemas, and the engine's command line.
 */
@TestInstance(Lifecycle.PER_CLASS)
class CredentialsIT {
    private static final String DB = "app";
    private static final String A_PW = "ApwQ7vZ3kXunique";
    private static final String B_PW = "BpwM2rT8wYunique";
    private static final String CTL_PW = "CtlPw5sN4hJunique";
    private static final String URL_PW = "UrlPw9dL6cFunique";
    private static final String WRONG_PW = "WrongPw3gH7unique";
    private static final List<String> SECRETS = List.of(A_PW, B_PW, CTL_PW, URL_PW, WRONG_PW);
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final ObjectMapper JSON = new ObjectMapper();

    private PgServer a;
    private PgServer b;
    private TcpProxy proxyB;
    private Path dir;
    private String controlUrl;
    private final List<IbexJar.Result> results = new ArrayList<>();

    @BeforeAll
    void servers() throws IOException {
        a = PgServer.start("cred-a");
        b = PgServer.start("cred-b");
        for (PgServer s : List.of(a, b)) {
            s.execute("postgres", "create role ibex_node superuser login password '" + (s == a ? A_PW : B_PW) + "'");
            s.createDatabase(DB);
            s.execute(DB, "create table t (id int primary key, v text)");
            s.prependHba("host all ibex_node,ibex_ctl 127.0.0.1/32 scram-sha-256");
        }
        a.execute("postgres", "create role ibex_ctl superuser login password '" + CTL_PW + "'",
                "create database ibex_control owner ibex_ctl");
        proxyB = TcpProxy.start("127.0.0.1", b.port());
        controlUrl = a.jdbcUrl("ibex_control").replace("user=postgres", "user=ibex_ctl");
        requirePassword(a, "ibex_ctl", CTL_PW);
        requirePassword(a, "ibex_node", A_PW);
        requirePassword(b, "ibex_node", B_PW);
        dir = Files.createTempDirectory(Path.of("target"), "credentials-").toAbsolutePath();
    }

    @AfterAll
    void stop() {
        for (AutoCloseable c : new AutoCloseable[] {proxyB, b, a}) {
            try {
                if (c != null) {
                    c.close();
                }
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
    }

    @Test
    void noPasswordAppearsAnywhereInAWholeSession() throws Exception {
        IbexJar ibex = new IbexJar(Map.of("IBEX_CONTROL", controlUrl + "&password=" + CTL_PW, "A_PW", A_PW, "B_PW", B_PW,
                "WRONG_PW", WRONG_PW, "CTL_PW", CTL_PW), dir);
        configure(ibex);

        Path log = dir.resolve("engine.log");
        Map<String, String> engineEnv = new HashMap<>(Map.of("IBEX_CONTROL", controlUrl + "&password=" + CTL_PW, "A_PW", A_PW,
                "B_PW", B_PW, "IBEX_LOG_LEVEL", "DEBUG"));
        Process engine = new IbexJar(engineEnv, dir).start(log, "start");
        String cmdline;
        try {
            Await.until("the engine runs", WAIT, () -> IbexJar.read(log).contains("ibex engine running"));
            cmdline = Files.readString(Path.of("/proc", Long.toString(engine.pid()), "cmdline"), StandardCharsets.UTF_8)
                    .replace('\0', ' ');
            assertTrue(cmdline.contains(" start"), cmdline);
            session(ibex);
        } finally {
            engine.destroy();
            assertTrue(engine.waitFor(60, TimeUnit.SECONDS), "the engine stops on SIGTERM");
        }

        Map<String, String> places = places(cmdline, log);
        assertTrue(places.get("the control database").contains("round"), "the dump holds the round history");
        for (Map.Entry<String, String> p : places.entrySet()) {
            for (String secret : SECRETS) {
                assertFalse(p.getValue().contains(secret), () -> "a password appears in " + p.getKey() + ":\n" + p.getValue());
            }
        }
    }

    /** Before the engine: setup, nodes, refused nodes, a refused control password, the sync, listings. */
    private void configure(IbexJar ibex) {
        String urlA = node(a.jdbcUrl(DB));
        ok(ibex, "setup");
        ok(ibex, "node", "add", "a", "--url", urlA, "--password-env", "A_PW");
        ok(ibex, "node", "add", "b", "--url", node(proxyB.rewrite(b.jdbcUrl(DB))), "--password-env", "B_PW");
        refused(ibex, "node", "add", "c", "--url", urlA + "&password=" + URL_PW);
        refused(ibex, "node", "add", "d", "--url", urlA, "--password-env", "WRONG_PW");
        refused(ibex, "node", "add", "e", "--url", node("jdbc:postgresql://127.0.0.1:1/app?user=postgres"), "--password-env", "A_PW");
        ok(ibex, "sync", "add", "s", "--nodes", "a,b", "--tables", "t", "--interval", "1s");
        ok(ibex, "node", "list");
        ok(ibex, "node", "list", "--json");
        ok(new IbexJar(Map.of("CTL_PW", CTL_PW), dir), "node", "list", "--control", controlUrl, "--control-password-env", "CTL_PW");
        refused(new IbexJar(Map.of("IBEX_CONTROL", controlUrl + "&password=" + WRONG_PW), dir), "status");
    }

    /** Everything to search, by where it was found. */
    private Map<String, String> places(String cmdline, Path log) throws IOException {
        Map<String, String> places = new LinkedHashMap<>();
        results.forEach(r -> places.put("output of " + r.args(), r.out() + r.err()));
        places.put("the engine's command line", cmdline);
        places.put("the engine's log", IbexJar.read(log));
        try (Stream<Path> files = Files.walk(dir)) {
            files.filter(Files::isRegularFile).forEach(f -> places.put("file " + f, IbexJar.read(f)));
        }
        places.put("the control database", dump(a, "ibex_control"));
        places.put("node a's ibex schema", dump(a, DB));
        places.put("node b's ibex schema", dump(b, DB));
        return places;
    }

    /** With the engine running: replication both ways, a conflict, status, conflicts, checks, node b cut off. */
    private void session(IbexJar ibex) throws Exception {
        a.execute(DB, "insert into t values (1, 'from a')");
        b.execute(DB, "insert into t values (2, 'from b')");
        for (PgServer s : List.of(a, b)) {
            Await.until(s.name() + " holds both rows", WAIT, () -> count(s, DB, "select count(*) from t") == 2);
        }
        ok(ibex, "sync", "pause", "s");
        try (Connection ca = a.connect(DB); Connection cb = b.connect(DB)) {
            ca.setAutoCommit(false);
            cb.setAutoCommit(false);
            Sql.exec(ca, "update t set v = 'a side' where id = 1");
            Sql.exec(cb, "update t set v = 'b side' where id = 1");
            ca.commit();
            cb.commit();
        }
        ok(ibex, "sync", "resume", "s");
        ok(ibex, "sync", "kick", "s", "--wait");
        Await.until("the conflict is journaled", WAIT, () -> count(a, "ibex_control", "select count(*) from ibex.conflict") > 0);
        ok(ibex, "status");
        ok(ibex, "status", "--json");
        JsonNode conflicts = JSON.readTree(ok(ibex, "conflicts", "--json").out());
        String id = conflicts.get(0).path("id").asText();
        ok(ibex, "conflicts");
        ok(ibex, "conflicts", "show", id);
        ok(ibex, "conflicts", "show", id, "--json");
        ok(ibex, "node", "check", "a");
        ok(ibex, "node", "check", "b", "--json");
        run(ibex, "validate", "s");
        cutOffB(ibex);
    }

    /** Node b unreachable while the engine runs, then back. */
    private void cutOffB(IbexJar ibex) {
        proxyB.cut();
        a.execute(DB, "insert into t values (3, 'while b is cut off')");
        Await.until("status shows b unreachable", WAIT, () -> {
            JsonNode st = readJson(ok(ibex, "status", "s", "--json").out()).get(0);
            return st.path("nodes").findValues("reachable").stream().anyMatch(r -> !r.asBoolean());
        });
        IbexJar.Result check = run(ibex, "node", "check", "b");
        assertEquals(1, check.code(), check::toString);
        ok(ibex, "status");
        proxyB.heal();
        Await.until("b catches up", WAIT, () -> count(b, DB, "select count(*) from t where id = 3") == 1);
    }

    private IbexJar.Result ok(IbexJar ibex, String... args) {
        IbexJar.Result r = run(ibex, args);
        assertEquals(0, r.code(), r::toString);
        return r;
    }

    private void refused(IbexJar ibex, String... args) {
        IbexJar.Result r = run(ibex, args);
        assertEquals(2, r.code(), r::toString);
        assertEquals(1, r.err().lines().filter(l -> !l.isBlank()).count(), r::toString);
    }

    private IbexJar.Result run(IbexJar ibex, String... args) {
        IbexJar.Result r = ibex.run(args);
        results.add(r);
        return r;
    }

    private static String node(String url) {
        return url.replace("user=postgres", "user=ibex_node");
    }

    private static JsonNode readJson(String text) {
        try {
            return JSON.readTree(text);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every row of every table in schema ibex of {@code db}, as text. */
    private static String dump(PgServer s, String db) {
        StringBuilder out = new StringBuilder();
        try (Connection c = s.connect(db)) {
            for (List<String> t : Sql.rows(c, "select tablename from pg_tables where schemaname = 'ibex' order by 1")) {
                out.append(t.get(0)).append(": ").append(Sql.rows(c, "select x::text from ibex.\"" + t.get(0) + "\" x")).append('\n');
            }
        } catch (SQLException e) {
            throw new Sql.UncheckedSqlException("dump of " + db, e);
        }
        return out.toString();
    }

    private static long count(PgServer s, String db, String sql) {
        try (Connection c = s.connect(db)) {
            return Sql.count(c, sql);
        } catch (SQLException e) {
            throw new Sql.UncheckedSqlException(sql, e);
        }
    }

    /** Waits until the server refuses {@code role} with a wrong password, then checks it accepts the right one. */
    private static void requirePassword(PgServer s, String role, String password) {
        String url = s.jdbcUrl("postgres").replace("user=postgres", "user=" + role);
        Await.until(s.name() + " to demand the password of " + role, WAIT,
                () -> "28P01".equals(loginFailure(url + "&password=nottheone")));
        assertNull(loginFailure(url + "&password=" + password), role + " logs in with its password");
    }

    private static String loginFailure(String url) {
        try (Connection c = DriverManager.getConnection(url)) {
            return null;
        } catch (SQLException e) {
            return e.getSQLState();
        }
    }
}
