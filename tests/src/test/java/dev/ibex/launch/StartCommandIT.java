package dev.ibex.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.cli.Main;
import dev.ibex.testkit.Await;
import dev.ibex.testkit.PgServer;
import dev.ibex.testkit.Sql;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code ibex start} as users run it: the shaded jar in its own JVM replicates writes made while
 * it runs (woken by NOTIFY, not by its 1-hour interval) and stops on SIGTERM, after which the
 * next engine converges what was written meanwhile.
 */
class StartCommandIT {
    private static PgServer a;
    private static PgServer b;
    private static String control;

    @BeforeAll
    static void servers() {
        a = PgServer.start("start-a");
        b = PgServer.start("start-b");
        a.createDatabase("ibex_control");
        control = a.jdbcUrl("ibex_control");
        for (PgServer s : List.of(a, b)) {
            s.execute("postgres", "create table items (id bigint primary key, name text not null)");
        }
    }

    @AfterAll
    static void stop() {
        b.close();
        a.close();
    }

    @Test
    void replicatesWhileRunningAndStopsOnSigterm() throws Exception {
        assertEquals(0, Main.run("setup", "--control", control));
        assertEquals(0, Main.run("node", "add", "a", "--url", a.jdbcUrl("postgres"), "--control", control));
        assertEquals(0, Main.run("node", "add", "b", "--url", b.jdbcUrl("postgres"), "--control", control));
        assertEquals(0, Main.run("sync", "add", "s", "--nodes", "a,b", "--tables", "items", "--interval", "1h", "--control", control));

        Path log = Files.createTempFile("ibex-start", ".log");
        ProcessBuilder pb = new ProcessBuilder(javaBin(), "-Xmx256m", "-jar", shadedJar().toString(), "start")
                .redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("IBEX_CONTROL", control);
        Process engine = pb.start();
        engine.getOutputStream().close();
        ProcessHandle handle = engine.toHandle();
        try {
            Await.until("engine prints that it runs", Duration.ofSeconds(60), () -> read(log).contains("ibex engine running"));
            try (Connection ca = a.connect("postgres"); Connection cb = b.connect("postgres")) {
                for (int i = 1; i <= 50; i++) {
                    Sql.exec(ca, "insert into items values (?, ?)", i, "from a " + i);
                }
                Sql.exec(cb, "insert into items values (1000, 'from b')");
                Await.until("b has a's rows and a has b's", Duration.ofSeconds(30),
                        () -> Sql.count(cb, "select count(*) from items") == 51 && Sql.count(ca, "select count(*) from items") == 51);
            }
        } finally {
            handle.destroy();
        }
        assertTrue(engine.waitFor(60, TimeUnit.SECONDS), "engine stopped within 60 s of SIGTERM");
        assertEquals(143, engine.exitValue(), "terminated by SIGTERM after the shutdown hook ran");
        assertFalse(read(log).contains("Exception"), read(log));
    }

    private static String read(Path p) {
        try {
            return Files.readString(p, StandardCharsets.UTF_8);
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String javaBin() {
        return ProcessHandle.current().info().command().orElse(System.getProperty("java.home") + File.separator + "bin" + File.separator + "java");
    }

    static Path shadedJar() {
        Path jar = Path.of(System.getProperty("user.dir")).resolve("../cli/target/ibex.jar").normalize();
        assertTrue(Files.exists(jar), "the shaded CLI jar is built before the tests module: " + jar);
        return jar;
    }
}
