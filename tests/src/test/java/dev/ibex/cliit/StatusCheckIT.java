package dev.ibex.cliit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.testkit.Await;
import dev.ibex.testkit.PgServer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer.OrderAnnotation;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestInstance.Lifecycle;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * {@code ibex status --check} in each state a monitoring system must tell apart, against real
 * servers with an engine running: OK while replicating, WARNING with a paused table, CRITICAL with
 * a node's server stopped and with no engine running the sync, UNKNOWN when the control database
 * cannot be reached and for bad options; always exactly one line on standard output. Then
 * {@code --watch SECONDS} redraws until interrupted. The steps run in order.
 */
@TestInstance(Lifecycle.PER_CLASS)
@TestMethodOrder(OrderAnnotation.class)
class StatusCheckIT {
    private static final Duration WAIT = Duration.ofSeconds(30);

    private TwoNodeSync nodes;
    private PgServer a;
    private PgServer b;

    @BeforeAll
    void servers() {
        nodes = TwoNodeSync.start("check");
        a = nodes.a;
        b = nodes.b;
        nodes.startEngine();
    }

    @AfterAll
    void stop() {
        nodes.close();
    }

    @Test
    @Order(1)
    void okWhileReplicating() {
        a.execute("postgres", "insert into t values (1, 'x')");
        Await.until("b has the row", WAIT, () -> b.count("postgres", "select count(*) from t") == 1);
        IbexCli.Result r = Await.value("an OK check", WAIT, () -> check(), x -> x.code() == 0);
        assertTrue(r.out().startsWith("IBEX OK - 1 sync(s) replicating, "), r::toString);
        assertTrue(r.out().contains("'s_lag'=") && r.out().contains("'s_pending'="), "performance data: " + r);
    }

    @Test
    @Order(2)
    void warningWhileATableIsPaused() {
        cli("table", "pause", "s", "t");
        IbexCli.Result r = check();
        assertEquals(1, r.code(), r::toString);
        assertTrue(r.out().startsWith("IBEX WARNING - sync s: table public.t paused"), r::toString);
        cli("table", "resume", "s", "t");
        assertEquals(0, Await.value("OK again", WAIT, () -> check(), x -> x.code() == 0).code());
    }

    @Test
    @Order(3)
    void criticalWhileANodeIsDown() {
        b.stop();
        try {
            IbexCli.Result r = check();
            assertEquals(2, r.code(), r::toString);
            assertTrue(r.out().startsWith("IBEX CRITICAL - sync s: node b unreachable"), r::toString);
        } finally {
            b.restart();
        }
        assertEquals(0, Await.value("OK once b is back", WAIT, () -> check(), x -> x.code() == 0).code());
    }

    @Test
    @Order(4)
    void warningAndCriticalAtTheLagBounds() {
        nodes.stopEngine();
        a.execute("postgres", "update t set v = 'late' where id = 1");
        IbexCli.Result r = Await.value("a lag of a second", WAIT,
                () -> cli("status", "s", "--check", "--warning-lag", "1s", "--critical-lag", "1h"),
                x -> x.out().contains("lag "));
        // no engine runs the sync now: that alone is critical, the lag comes after it
        assertEquals(2, r.code(), r::toString);
        assertTrue(r.out().startsWith("IBEX CRITICAL - sync s: no engine runs it; sync s: lag "), r::toString);
        nodes.startEngine();
        assertEquals(0, Await.value("OK with an engine again", WAIT, () -> check(), x -> x.code() == 0).code());
    }

    @Test
    @Order(5)
    void unknownWhenTheStateCannotBeRead() {
        IbexCli.Result down = IbexCli.run("--control", "jdbc:postgresql://127.0.0.1:1/ibex_control?connectTimeout=2", "status", "--check");
        assertEquals(3, down.code(), down::toString);
        assertTrue(down.out().startsWith("IBEX UNKNOWN - ") && down.out().contains("control database") && down.out().contains("refused"), down::toString);
        IbexCli.Result badOption = cli("status", "--check", "--warning-lag", "soon");
        assertEquals(3, badOption.code(), badOption::toString);
        IbexCli.Result badParse = cli("status", "--check", "--no-such-option");
        assertEquals(3, badParse.code(), badParse::toString);
        IbexCli.Result unknownSync = cli("status", "nope", "--check");
        assertEquals(3, unknownSync.code(), unknownSync::toString);
        assertTrue(unknownSync.out().contains("unknown sync 'nope'"), unknownSync::toString);
        for (IbexCli.Result r : List.of(down, badOption, unknownSync)) {
            assertEquals(1, r.out().strip().lines().count(), "one line: " + r);
        }
    }

    @Test
    @Order(6)
    void watchRedrawsUntilInterrupted() throws InterruptedException {
        AtomicReference<IbexCli.Result> result = new AtomicReference<>();
        Thread watcher = new Thread(() -> result.set(cli("status", "s", "--watch", "1")), "status-watch");
        watcher.start();
        watcher.join(3_500);
        assertTrue(watcher.isAlive(), "--watch keeps redrawing");
        watcher.interrupt();
        watcher.join(20_000);
        assertFalse(watcher.isAlive(), "--watch ends when interrupted");
        IbexCli.Result r = result.get();
        assertEquals(0, r.code(), r::toString);
        long draws = r.out().lines().filter(l -> l.startsWith("every 1 s: ibex status s")).count();
        assertTrue(draws >= 2, "redrawn at least twice in 3.5 s: " + r);
        assertEquals(draws, r.out().lines().filter(l -> l.startsWith("sync s: ")).count(), r::toString);
        assertEquals(2, cli("status", "--watch", "0").code(), "--watch 0 is refused");
    }

    private IbexCli.Result check() {
        IbexCli.Result r = cli("status", "s", "--check");
        assertEquals(1, r.out().strip().lines().count(), "one line: " + r);
        return r;
    }

    private IbexCli.Result cli(String... args) {
        return nodes.run(args);
    }
}
