package dev.ibex.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.testkit.Await;
import dev.ibex.testkit.PgServer;
import dev.ibex.testkit.TcpProxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalTime;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestInstance.Lifecycle;

/**
 * The control database going away while {@code ibex start} runs (issue 4, item 8): the engine
 * reaches it through a {@link TcpProxy} that the test cuts for a while. The engine must keep
 * running, log each failed attempt in one line that says the control database is unreachable
 * (no stack trace), back off between attempts instead of logging every second, and once the
 * control database is back, replicate what both nodes took meanwhile, record rounds again, and
 * leave the nodes identical.
 */
@TestInstance(Lifecycle.PER_CLASS)
class ControlOutageIT {
    private static final String DB = "app";
    private static final Duration WAIT = Duration.ofSeconds(60);
    /** How many logged failures the test waits for while the control database is cut off. */
    private static final int FAILURES = 6;

    private PgServer a;
    private PgServer b;
    private TcpProxy controlProxy;
    private Path dir;

    @BeforeAll
    void servers() throws Exception {
        a = PgServer.start("ctl-outage-a");
        b = PgServer.start("ctl-outage-b");
        for (PgServer s : List.of(a, b)) {
            s.createDatabase(DB);
            s.execute(DB, "create table t (id int primary key, v text)");
        }
        a.createDatabase("ibex_control");
        controlProxy = TcpProxy.start("127.0.0.1", a.port());
        dir = Files.createTempDirectory(Path.of("target"), "control-outage-").toAbsolutePath();
    }

    @AfterAll
    void stop() {
        controlProxy.close();
        b.close();
        a.close();
    }

    @Test
    void theEngineRidesOutAControlDatabaseOutageAndResumes() throws Exception {
        IbexJar ibex = new IbexJar(Map.of("IBEX_CONTROL", controlProxy.rewrite(a.jdbcUrl("ibex_control"))), dir);
        for (String[] command : List.of(new String[] {"setup"},
                new String[] {"node", "add", "a", "--url", a.jdbcUrl(DB)},
                new String[] {"node", "add", "b", "--url", b.jdbcUrl(DB)},
                new String[] {"sync", "add", "s", "--nodes", "a,b", "--tables", "t", "--interval", "1s"})) {
            IbexJar.Result r = ibex.run(command);
            assertEquals(0, r.code(), r::toString);
        }
        Path log = dir.resolve("engine.log");
        Process engine = ibex.start(log, "start");
        try {
            Await.until("the engine runs", WAIT, () -> IbexJar.read(log).contains("ibex engine running"));
            a.execute(DB, "insert into t values (1, 'before the outage')");
            Await.until("b has row 1", WAIT, () -> b.count(DB, "select count(*) from t") == 1);
            long roundsBefore = a.count("ibex_control", "select count(*) from ibex.round");

            controlProxy.cut();
            int logged = IbexJar.read(log).length();
            a.execute(DB, "insert into t values (2, 'on a while the control database is away')");
            b.execute(DB, "insert into t values (3, 'on b while the control database is away')");
            Await.until(FAILURES + " logged failures", WAIT, () -> failureLines(log, logged).size() >= FAILURES);
            assertTrue(engine.isAlive(), "the engine keeps running");
            List<String> lines = IbexJar.read(log).substring(logged).lines().filter(l -> !l.isBlank()).toList();
            for (String line : lines) {
                assertTrue(line.matches("\\d\\d:\\d\\d:\\d\\d\\.\\d{3} (WARN|ERROR|INFO) .*"), () -> "one line per event, no stack trace: " + line
                        + "\n--- log since the cut ---\n" + String.join("\n", lines));
                assertTrue(line.contains("control database"), () -> "the line says what is unreachable: " + line);
            }
            assertBacksOff(failureLines(log, logged));

            controlProxy.heal();
            Await.until("a and b converge after the outage", WAIT, () -> a.count(DB, "select count(*) from t") == 3
                    && b.count(DB, "select count(*) from t") == 3);
            Await.until("rounds are recorded again", WAIT,
                    () -> a.count("ibex_control", "select count(*) from ibex.round where outcome = 'ok'") > roundsBefore);
            assertEquals(a.rows(DB, "select * from t order by id"), b.rows(DB, "select * from t order by id"));
            IbexJar.Result validate = ibex.run("validate", "s");
            assertEquals(0, validate.code(), validate::toString);
            assertTrue(engine.isAlive(), "the engine is still running");
        } finally {
            engine.destroy();
            assertTrue(engine.waitFor(60, TimeUnit.SECONDS), "the engine stops on SIGTERM");
        }
        assertEquals(143, engine.exitValue(), () -> "stopped by SIGTERM, not by itself:\n" + IbexJar.read(log));
    }

    /** The failure lines logged after offset {@code from} of the log. */
    private static List<String> failureLines(Path log, int from) {
        return IbexJar.read(log).substring(from).lines().filter(l -> l.contains(" WARN ") || l.contains(" ERROR ")).toList();
    }

    /**
     * Attempts back off: {@link #FAILURES} lines span well over the time that attempts once a second
     * would take (about 5 s, as each attempt waits up to 5 s for a connection).
     */
    private static void assertBacksOff(List<String> failures) {
        LocalTime first = LocalTime.parse(failures.get(0).substring(0, 12));
        LocalTime last = LocalTime.parse(failures.get(failures.size() - 1).substring(0, 12));
        long span = Duration.between(first, last).toMillis();
        assertTrue(span >= 8_000, () -> FAILURES + " failures logged within " + span + " ms: no backoff\n" + String.join("\n", failures));
    }

}
