package dev.ibex.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.cli.Main;
import dev.ibex.testkit.Await;
import dev.ibex.testkit.PgServer;
import dev.ibex.testkit.Sql;
import java.sql.Connection;
import java.time.Duration;
import java.util.List;
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

        try (EngineProcess engine = EngineProcess.start(control)) {
            engine.awaitOutput("ibex engine running", Duration.ofSeconds(60));
            try (Connection ca = a.connect("postgres"); Connection cb = b.connect("postgres")) {
                for (int i = 1; i <= 50; i++) {
                    Sql.exec(ca, "insert into items values (?, ?)", i, "from a " + i);
                }
                Sql.exec(cb, "insert into items values (1000, 'from b')");
                Await.until("b has a's rows and a has b's", Duration.ofSeconds(30),
                        () -> Sql.count(cb, "select count(*) from items") == 51 && Sql.count(ca, "select count(*) from items") == 51);
            } finally {
                engine.terminate();
            }
            assertTrue(engine.waitFor(Duration.ofSeconds(60)), "engine stopped within 60 s of SIGTERM");
            assertEquals(143, engine.exitValue(), "terminated by SIGTERM after the shutdown hook ran");
            assertFalse(engine.output().contains("Exception"), engine.output());
        }
    }
}
