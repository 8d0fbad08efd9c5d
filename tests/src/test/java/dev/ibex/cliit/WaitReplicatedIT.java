package dev.ibex.cliit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.runtime.Engine;
import dev.ibex.it.Cluster;
import dev.ibex.launch.EngineProcess;
import dev.ibex.testkit.Await;
import dev.ibex.testkit.Sql;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code ibex.wait_replicated} and {@code ibex sync wait} against three real servers, with writers
 * on every node: a client that waited reads its write on the other nodes; a node down, a row an
 * application holds on a target, a dead engine each keep the wait from claiming what did not
 * happen, and it still returns within its timeout; callers neither serialise nor block writers;
 * only a role granted the function may call it.
 */
class WaitReplicatedIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b", "c");
    private static final String SYNC = "w";
    private static final String APP = "ibex_wait_app";
    private static final String NO_GRANT = "ibex_wait_nogrant";

    @BeforeAll
    static void setUp() {
        CLUSTER.execAll("create table paid (id bigint primary key, v text not null, n integer not null default 0)",
                "insert into paid select g, 'init', 0 from generate_series(1, 1000) g");
        CLUSTER.addSync(SYNC, new TableRef("public", "paid"));
        for (String n : CLUSTER.nodes()) {
            for (String role : List.of(APP, NO_GRANT)) {
                CLUSTER.server(n).execute("postgres", "drop role if exists " + role, "create role " + role + " login");
            }
            CLUSTER.exec(n, "grant select, insert, update, delete on paid to " + APP + ", " + NO_GRANT,
                    "grant usage on schema ibex to " + APP + ", " + NO_GRANT,
                    "grant execute on function ibex.wait_replicated(integer, interval, boolean) to " + APP);
        }
    }

    @Test
    void aClientThatWaitedReadsItsWriteOnTheOtherNodesWhileOthersWrite() throws Exception {
        List<Long> millis = new ArrayList<>();
        try (Engine engine = CLUSTER.startEngine(); Writers writers = Writers.start();
             Connection app = as(APP, "a"); Connection b = CLUSTER.connect("b"); Connection c = CLUSTER.connect("c")) {
            for (int i = 0; i < 40; i++) {
                long id = 1 + i % 20;
                String v = "paid #" + i;
                long t0 = System.nanoTime();
                update(app, id, v);
                assertEquals(2, waitReplicated(app, "select ibex.wait_replicated(2, '10s')"), "write " + i + " reached b and c");
                millis.add((System.nanoTime() - t0) / 1_000_000);
                assertEquals(v, Sql.rows(b, "select v from paid where id = ?", id).get(0).get(0), "b has write " + i);
                assertEquals(v, Sql.rows(c, "select v from paid where id = ?", id).get(0).get(0), "c has write " + i);
            }
            // the default: one other node
            update(app, 21, "one is enough");
            assertTrue(waitReplicated(app, "select ibex.wait_replicated()") >= 1);
            writers.stopAndCheck();
        }
        Collections.sort(millis);
        System.out.printf("WaitReplicatedIT: write on a + wait_replicated(2) with writers on every node, ms: median %d, max %d%n",
                millis.get(millis.size() / 2), millis.get(millis.size() - 1));
        CLUSTER.converge(SYNC);
    }

    @Test
    void aRowAnApplicationHoldsOnATargetIsNotCountedAsArrivedUntilItIsApplied() throws Exception {
        try (Engine engine = CLUSTER.startEngine(); Connection app = as(APP, "a"); Connection holder = CLUSTER.connect("b")) {
            update(app, 30, "before the hold");
            assertEquals(2, waitReplicated(app, "select ibex.wait_replicated(2, '10s')"));
            holder.setAutoCommit(false);
            Sql.rows(holder, "select v from paid where id = 30 for update");
            update(app, 30, "while b's row is held");
            // the apply on b skips the held row and leaves its watermark: c has the change, b does not
            assertEquals(1, waitReplicated(app, "select ibex.wait_replicated(2, '3s')"));
            assertEquals("before the hold", CLUSTER.rows("b", "select v from paid where id = 30").get(0).get(0));
            holder.rollback();
            assertEquals(2, waitReplicated(app, "select ibex.wait_replicated(2, '10s')"));
            assertEquals("while b's row is held", CLUSTER.rows("b", "select v from paid where id = 30").get(0).get(0));
        }
    }

    @Test
    void withOneOfThreeNodesDownTheWaitCountsTheOthersAndEndsAtItsTimeout() throws Exception {
        try (Engine engine = CLUSTER.startEngine(); Connection app = as(APP, "a")) {
            update(app, 40, "all up");
            assertEquals(2, waitReplicated(app, "select ibex.wait_replicated(2, '10s')"));
            CLUSTER.server("c").stop();
            try {
                // the first round after c went down waits out the connect timeout (5 s) before it leaves c out
                Await.until("the engine leaves c out of its rounds", Duration.ofSeconds(30), () -> {
                    try {
                        update(app, 42, "finding c down");
                    } catch (SQLException e) {
                        throw new IllegalStateException(e);
                    }
                    return waitReplicated(app, "select ibex.wait_replicated(1, '1s')") == 1;
                });
                update(app, 40, "c down");
                long t0 = System.nanoTime();
                assertEquals(1, waitReplicated(app, "select ibex.wait_replicated(2, '2s')"), "b has it, c is down");
                long waited = (System.nanoTime() - t0) / 1_000_000;
                assertTrue(waited >= 2000 && waited < 4000, "waited its 2 s timeout, not longer: " + waited + " ms");
                update(app, 41, "c still down");
                t0 = System.nanoTime();
                assertEquals(1, waitReplicated(app, "select ibex.wait_replicated(1, '10s')"));
                long one = (System.nanoTime() - t0) / 1_000_000;
                assertTrue(one < 5000, "one other node is enough: returned once b had it, " + one + " ms, not at its timeout");
                IbexCli.Result r = IbexCli.run("sync", "wait", SYNC, "--timeout", "2s", "--control", CLUSTER.controlUrl());
                assertEquals(1, r.code(), r.toString());
                assertTrue(r.out().contains("node a: not yet on c (applied on b)")
                        && (r.out().contains("node c: unreachable") || r.out().contains("node c: did not answer")), r.toString());
                assertTrue(r.err().startsWith("ibex: sync w: not every node's changes reached 2 other node(s) within 2s"), r.toString());
                IbexCli.Result some = IbexCli.run("sync", "wait", SYNC, "--nodes", "1", "--timeout", "2s", "--json",
                        "--control", CLUSTER.controlUrl());
                assertEquals(1, some.code(), "c's own changes cannot be asked for: " + some);
                JsonNode doc = IbexCli.parseJson(some.out());
                assertEquals(false, doc.get("reached").asBoolean());
                assertEquals(3, doc.get("nodes").size(), some.out());
            } finally {
                CLUSTER.server("c").restart();
            }
            update(app, 40, "c back");
            assertEquals(2, Await.value("c caught up", Duration.ofSeconds(60),
                    () -> waitReplicated(app, "select ibex.wait_replicated(2, '5s')"), n -> n == 2));
            IbexCli.Result r = IbexCli.run("sync", "wait", SYNC, "--control", CLUSTER.controlUrl());
            assertEquals(0, r.code(), r.toString());
            assertTrue(r.out().startsWith("sync w: every node's changes so far are applied on every other node"), r.toString());
        }
    }

    @Test
    void withTheEngineKilledTheCallReturnsZeroWithinItsTimeoutAndStrictRaises() throws Exception {
        try (EngineProcess engine = EngineProcess.start(CLUSTER.controlUrl()); Connection app = as(APP, "a")) {
            engine.awaitOutput("ibex engine running", Duration.ofSeconds(60));
            update(app, 50, "engine alive");
            assertEquals(2, waitReplicated(app, "select ibex.wait_replicated(2, '20s')"));
            engine.kill();
            update(app, 50, "engine dead");
            long t0 = System.nanoTime();
            assertEquals(0, waitReplicated(app, "select ibex.wait_replicated(1, '1s')"));
            long waited = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(waited >= 1000 && waited < 3000, "returned at its 1 s timeout: " + waited + " ms");
            SQLException e = refused(app, "select ibex.wait_replicated(1, '500ms', true)");
            assertEquals("IBW01", e.getSQLState(), e.getMessage());
            assertTrue(e.getMessage().contains("0 of 1 other node(s) applied this node's changes within 00:00:00.5"), e.getMessage());
            IbexCli.Result r = IbexCli.run("sync", "wait", SYNC, "--timeout", "1s", "--control", CLUSTER.controlUrl());
            assertEquals(1, r.code(), r.toString());
            assertTrue(r.out().contains("node a: not yet on b, c"), r.toString());
            assertTrue(r.err().endsWith("(no node's changes reached any other: is 'ibex start' running?)\n"), r.toString());
        }
        // nothing was lost: the next engine replicates the change the dead one left
        try (Engine engine = CLUSTER.startEngine(); Connection app = as(APP, "a")) {
            assertEquals(2, waitReplicated(app, "select ibex.wait_replicated(2, '20s')"));
            assertEquals("engine dead", CLUSTER.rows("c", "select v from paid where id = 50").get(0).get(0));
        }
    }

    @Test
    void concurrentCallersNeitherSerialiseNorBlockWriters() throws Exception {
        // no engine: every call waits its whole timeout
        int callers = 8;
        ExecutorService pool = Executors.newFixedThreadPool(callers + 1);
        AtomicBoolean waiting = new AtomicBoolean(true);
        AtomicLong writes = new AtomicLong();
        AtomicLong slowestWrite = new AtomicLong();
        try (Connection app = as(APP, "a"); Connection locks = CLUSTER.connect("a")) {
            Future<?> writer = pool.submit(() -> {
                try (Connection w = as(APP, "a")) {
                    for (long i = 0; waiting.get(); i++) {
                        long t0 = System.nanoTime();
                        update(w, 60 + i % 10, "written while callers wait #" + i);
                        slowestWrite.accumulateAndGet((System.nanoTime() - t0) / 1_000_000, Math::max);
                        writes.incrementAndGet();
                    }
                }
                return null;
            });
            long t0 = System.nanoTime();
            List<Future<Integer>> calls = new ArrayList<>();
            for (int i = 0; i < callers; i++) {
                calls.add(pool.submit(() -> {
                    try (Connection c = as(APP, "a")) {
                        return waitReplicated(c, "select ibex.wait_replicated(1, '3s')");
                    }
                }));
            }
            Await.until("every caller is waiting in ibex.wait_replicated", Duration.ofSeconds(10), () -> Sql.count(locks,
                    "select count(*) from pg_stat_activity where usename = ? and query like '%wait_replicated%' and state = 'active'",
                    APP) == callers);
            long blocked = Sql.count(locks, "select count(*) from pg_locks where not granted");
            for (Future<Integer> f : calls) {
                assertEquals(0, f.get(30, TimeUnit.SECONDS));
            }
            long all = (System.nanoTime() - t0) / 1_000_000;
            waiting.set(false);
            writer.get(30, TimeUnit.SECONDS);
            assertEquals(0, blocked, "no session waited for a lock while " + callers + " callers waited");
            assertTrue(all < 6000, callers + " callers of a 3 s wait returned together, in " + all + " ms, not one after the other");
            assertTrue(writes.get() > 0 && slowestWrite.get() < 2000,
                    writes + " writes committed meanwhile, the slowest in " + slowestWrite + " ms");
        } finally {
            pool.shutdownNow();
        }
        CLUSTER.converge(SYNC);
    }

    @Test
    void onlyARoleGrantedTheFunctionMayCallItAndOnlyAfterACommit() throws Exception {
        try (Connection denied = as(NO_GRANT, "a"); Connection app = as(APP, "a")) {
            SQLException e = refused(denied, "select ibex.wait_replicated(1, '100ms')");
            assertEquals("42501", e.getSQLState(), e.getMessage());
            assertEquals(0, waitReplicated(app, "select ibex.wait_replicated(0)"), "granted: min_nodes 0 is met at once");
            app.setAutoCommit(false);
            update(app, 70, "not committed yet");
            SQLException inside = refused(app, "select ibex.wait_replicated()");
            assertEquals("25001", inside.getSQLState(), inside.getMessage());
            app.rollback();
            try (Statement s = app.createStatement()) {
                s.execute("set transaction isolation level repeatable read");
            }
            SQLException rr = refused(app, "select ibex.wait_replicated()");
            assertEquals("25000", rr.getSQLState(), rr.getMessage());
            app.rollback();
            SQLException negative = refused(app, "select ibex.wait_replicated(-1)");
            assertEquals("22023", negative.getSQLState(), negative.getMessage());
            app.rollback();
        }
    }

    @Test
    void syncWaitRefusesBadInputWithExitTwo() {
        IbexCli.Result tooMany = IbexCli.run("sync", "wait", SYNC, "--nodes", "3", "--control", CLUSTER.controlUrl());
        assertEquals(2, tooMany.code(), tooMany.toString());
        assertTrue(tooMany.err().startsWith("ibex: --nodes must be between 1 and 2"), tooMany.toString());
        IbexCli.Result unknown = IbexCli.run("sync", "wait", "nope", "--control", CLUSTER.controlUrl());
        assertEquals(2, unknown.code(), unknown.toString());
        IbexCli.Result timeout = IbexCli.run("sync", "wait", SYNC, "--timeout", "0s", "--control", CLUSTER.controlUrl());
        assertEquals(2, timeout.code(), timeout.toString());
    }

    private static Connection as(String role, String node) {
        return Sql.connect(CLUSTER.url(node).replace("user=postgres", "user=" + role));
    }

    private static void update(Connection c, long id, String v) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("update paid set v = ?, n = n + 1 where id = ?")) {
            ps.setString(1, v);
            ps.setLong(2, id);
            assertEquals(1, ps.executeUpdate());
        }
    }

    private static int waitReplicated(Connection c, String sql) {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getInt(1);
        } catch (SQLException e) {
            throw new Sql.UncheckedSqlException(sql, e);
        }
    }

    private static SQLException refused(Connection c, String sql) {
        try (Statement s = c.createStatement()) {
            s.executeQuery(sql).close();
        } catch (SQLException e) {
            return e;
        }
        throw new AssertionError("not refused: " + sql);
    }

    /** One writer per node updating keys 101..1000 (each node its own range) until stopped. */
    private static final class Writers implements AutoCloseable {
        private final ExecutorService pool = Executors.newFixedThreadPool(3);
        private final AtomicBoolean running = new AtomicBoolean(true);
        private final List<Future<Long>> done = new ArrayList<>();
        /** Each writer's pause between its updates (about 50 a second each). */
        private static final Duration PACE = Duration.ofMillis(20);

        static Writers start() {
            Writers w = new Writers();
            List<String> nodes = CLUSTER.nodes();
            for (int i = 0; i < nodes.size(); i++) {
                String node = nodes.get(i);
                long first = 101 + i * 300L;
                w.done.add(w.pool.submit(() -> {
                    long n = 0;
                    try (Connection c = CLUSTER.connect(node)) {
                        while (w.running.get()) {
                            update(c, first + n % 300, node + " writes #" + n);
                            n++;
                            java.util.concurrent.locks.LockSupport.parkNanos(PACE.toNanos());
                        }
                    }
                    return n;
                }));
            }
            return w;
        }

        void stopAndCheck() throws Exception {
            running.set(false);
            for (Future<Long> f : done) {
                assertTrue(f.get(30, TimeUnit.SECONDS) > 0, "each writer wrote");
            }
        }

        @Override
        public void close() {
            running.set(false);
            pool.shutdownNow();
        }
    }
}
