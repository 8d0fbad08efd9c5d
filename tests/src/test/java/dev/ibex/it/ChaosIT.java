package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.config.TableRef;
import dev.ibex.launch.EngineProcess;
import dev.ibex.testkit.PgServer;
import dev.ibex.testkit.Sql;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Invariants 1 and 2 under chaos: three masters take a random write workload (inserts, updates and
 * deletes; table {@code chaos_solo} has each key written by one owner node only, with an additive
 * balance; on table {@code chaos_shared} every node writes every key) while {@code ibex start}
 * replicates them through per-node proxies, and a random schedule injects faults: the engine is
 * killed with SIGKILL (and started again), a node's PostgreSQL is stopped or killed (and restarted
 * a few steps later; node a's server also holds the control database), and a node's proxy cuts or
 * stalls the engine's traffic (and heals later). At the end everything is healed, the engine runs
 * until the nodes are identical, and every key written on one node only must hold that node's
 * last value on every node. The faults injected and the time the final recovery took are printed.
 *
 * <p>Meanwhile, what {@code ibex.wait_replicated} relies on is checked against the nodes: now and
 * then a node inserts a mark (table {@code chaos_marks}, insert only) and takes a snapshot after
 * its commit; between faults, every node that the mark's node records as having applied what that
 * snapshot sees ({@code ibex.replicated_nodes}) must hold the mark. After the recovery every node
 * must record every other as having all its marks.
 *
 * <p>About 2 minutes by default; the {@code soak} Maven profile ({@code -Psoak
 * -Dibex.soak.minutes=N}) runs only this test, with N minutes of chaos. The seed is printed;
 * {@code -Dibex.seed=S} replays its schedule (not the engine's timing against the workload).
 */
class ChaosIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b", "c").withProxies();
    private static final String SYNC = "chaos";
    private static final int SOLO_KEYS = 300;
    private static final int SHARED_KEYS = 40;
    private static final Duration DEFAULT_CHAOS = Duration.ofSeconds(75);
    private static final Duration RECOVERY_DEADLINE = Duration.ofMinutes(3);
    private static final long WRITE_EVERY_NANOS = Duration.ofMillis(15).toNanos();

    @Test
    void randomWritesAndFaultsEndConvergedWithNothingLost() {
        long seed = Long.getLong("ibex.seed", System.nanoTime());
        int soakMinutes = Integer.getInteger("ibex.chaos.minutes", 0);
        Duration length = soakMinutes > 0 ? Duration.ofMinutes(soakMinutes) : DEFAULT_CHAOS;
        System.out.println("ChaosIT: seed " + seed + " (replay with -Dibex.seed=" + seed + "), chaos for " + length.toSeconds() + " s");
        new Chaos(new Random(seed), "seed " + seed).run(length);
    }

    private static final class Chaos {
        private final Random random;
        private final String context;
        private final List<String> nodes = CLUSTER.nodes();
        private final WriteLog solo = new WriteLog();
        private final WriteLog shared = new WriteLog();
        private final Map<String, Connection> writers = new LinkedHashMap<>();
        private final Map<String, Integer> faults = new LinkedHashMap<>();
        private EngineProcess engine;
        private String down;
        private int downSteps;
        private String cutOff;
        private int cutSteps;
        private long writeSeq;
        private long blockedWrites;
        /** Marks not yet recorded as applied on every other node; each: its node, id, and the snapshot after its commit. */
        private final List<Mark> marks = new java.util.ArrayList<>();
        private long markChecks;

        private record Mark(String node, long id, String since) {
        }

        Chaos(Random random, String context) {
            this.random = random;
            this.context = context;
            for (String kind : List.of("engine kill -9", "node stop", "node kill", "proxy cut", "proxy stall")) {
                faults.put(kind, 0);
            }
        }

        void run(Duration length) {
            CLUSTER.execAll("create table chaos_solo (id integer primary key, val text not null, balance bigint not null)",
                    "create table chaos_shared (id integer primary key, val text)",
                    "create table chaos_marks (id bigint primary key, node text not null)");
            CLUSTER.addSync(SYNC, TableRef.parse("chaos_solo"), TableRef.parse("chaos_shared"), TableRef.parse("chaos_marks"));
            long started = System.nanoTime();
            long deadline = started + length.toNanos();
            int steps = 0;
            try {
                engine = EngineProcess.start(CLUSTER.controlUrl());
                while (System.nanoTime() < deadline) {
                    writeFor(Duration.ofMillis(300 + random.nextInt(1200)));
                    checkMarks();
                    fault();
                    steps++;
                }
            } finally {
                healAll();
            }
            long chaosMillis = (System.nanoTime() - started) / 1_000_000;
            long recoveryMillis = recover();
            CLUSTER.converge(SYNC);
            int marked = marks.size();
            checkMarks();
            assertTrue(marks.isEmpty(), context + ": after the recovery every node records every other as having all its marks; "
                    + "left: " + marks);
            int soloChecked = solo.assertSoleWriterRows(CLUSTER, nodes, "select val || '|' || balance from chaos_solo where id = ?", context);
            int sharedChecked = shared.assertSoleWriterRows(CLUSTER, nodes, "select val from chaos_shared where id = ?", context);
            assertTrue(soloChecked > 0, "the workload wrote keys on one node only");
            System.out.printf("ChaosIT %s: %d s of chaos, %d steps, %d writes (%d solo, %d shared; %d blocked and cancelled by a "
                            + "2 s statement timeout), faults %s; final recovery to identical nodes took %d ms; %d solo and %d shared "
                            + "keys written on one node hold its last value%n", context, chaosMillis / 1000, steps,
                    solo.writes() + shared.writes(), solo.writes(), shared.writes(), blockedWrites, faults, recoveryMillis,
                    soloChecked, sharedChecked);
            System.out.printf("ChaosIT %s: %d checks of marks against what their nodes recorded as applied elsewhere; %d marks "
                    + "awaited the final recovery%n", context, markChecks, marked);
        }

        /**
         * Checks every pending mark against the nodes that can be reached now: each node its node
         * records as having it holds it; a mark recorded on every other node is done.
         */
        private void checkMarks() {
            Map<String, Connection> open = new LinkedHashMap<>();
            try {
                for (java.util.Iterator<Mark> it = marks.iterator(); it.hasNext(); ) {
                    Mark m = it.next();
                    List<String> have = query(open, m.node(), "select array_to_string(ibex.replicated_nodes(array[?], ?::pg_snapshot), ',')",
                            SYNC, m.since());
                    if (have == null) {
                        continue;
                    }
                    List<String> named = have.get(0).isEmpty() ? List.of() : List.of(have.get(0).split(","));
                    for (String target : named) {
                        List<String> found = query(open, target, "select count(*)::text from chaos_marks where id = ?", m.id());
                        if (found != null) {
                            markChecks++;
                            assertTrue(found.get(0).equals("1"), context + ": node " + m.node() + " records that " + target
                                    + " has applied mark " + m.id() + " (and all before it), but " + target + " lacks it");
                        }
                    }
                    if (named.size() == nodes.size() - 1) {
                        it.remove();
                    }
                }
            } finally {
                open.values().forEach(c -> {
                    try {
                        c.close();
                    } catch (SQLException ignored) {
                        // a node going down
                    }
                });
            }
        }

        /** The first column of the first row, or null when the node cannot answer now (down, restarting, timing out). */
        private List<String> query(Map<String, Connection> open, String node, String sql, Object... args) {
            if (node.equals(down)) {
                return null;
            }
            try {
                Connection c = open.get(node);
                if (c == null) {
                    c = CLUSTER.connect(node);
                    open.put(node, c);
                    try (Statement st = c.createStatement()) {
                        st.execute("set statement_timeout = '2s'");
                    }
                }
                List<List<String>> rows = Sql.rows(c, sql, args);
                return List.of(rows.get(0).get(0));
            } catch (RuntimeException | SQLException e) {
                open.remove(node);
                return null;
            }
        }

        /** Writes at a steady pace to every node that is up, for {@code d}. */
        private void writeFor(Duration d) {
            long end = System.nanoTime() + d.toNanos();
            long next = System.nanoTime();
            while (next < end) {
                List<String> up = nodes.stream().filter(n -> !n.equals(down)).toList();
                write(up.get(random.nextInt(up.size())));
                next += WRITE_EVERY_NANOS;
                long wait = next - System.nanoTime();
                if (wait > 0) {
                    LockSupport.parkNanos(wait);
                }
            }
        }

        private void write(String node) {
            String value = node + "-" + (++writeSeq);
            if (random.nextInt(12) == 0) {
                mark(node, writeSeq);
            } else if (random.nextInt(3) > 0) {
                // node i owns the keys i + 1, i + 1 + n, i + 1 + 2n, ...
                int key = 1 + nodes.indexOf(node) + nodes.size() * random.nextInt(SOLO_KEYS / nodes.size());
                String last = solo.last(node, key);
                int dice = random.nextInt(10);
                if (last == null) {
                    if (run(node, "insert into chaos_solo values (?, ?, 1)", key, value)) {
                        solo.wrote(node, key, value + "|1");
                    }
                } else if (dice < 8) {
                    long balance = Long.parseLong(last.substring(last.indexOf('|') + 1)) + 1;
                    if (run(node, "update chaos_solo set val = ?, balance = balance + 1 where id = ?", value, key)) {
                        solo.wrote(node, key, value + "|" + balance);
                    }
                } else if (run(node, "delete from chaos_solo where id = ?", key)) {
                    solo.wrote(node, key, null);
                }
            } else {
                int key = 1 + random.nextInt(SHARED_KEYS);
                if (random.nextInt(5) > 0) {
                    if (run(node, "insert into chaos_shared values (?, ?) on conflict (id) do update set val = excluded.val", key, value)) {
                        shared.wrote(node, key, value);
                    }
                } else if (run(node, "delete from chaos_shared where id = ?", key)) {
                    shared.wrote(node, key, null);
                }
            }
        }

        /** Inserts mark {@code id} on {@code node} and, once committed, takes the node's snapshot for {@link #checkMarks}. */
        private void mark(String node, long id) {
            if (!run(node, "insert into chaos_marks values (?, ?)", id, node)) {
                return;
            }
            try {
                marks.add(new Mark(node, id, Sql.rows(writer(node), "select pg_current_snapshot()::text").get(0).get(0)));
            } catch (RuntimeException | SQLException e) {
                // the node went away right after the commit: this mark is not checked
            }
        }

        /** One application write (see {@link AppWrite#run}); false, and counted, if the statement timeout cancelled it. */
        private boolean run(String node, String sql, Object... args) {
            Connection c;
            try {
                c = writer(node);
            } catch (SQLException e) {
                throw new Sql.UncheckedSqlException(context + ": connecting to node " + node, e);
            }
            if (AppWrite.run(c, context + ": an application write on node " + node, sql, args)) {
                return true;
            }
            blockedWrites++;
            return false;
        }

        private Connection writer(String node) throws SQLException {
            Connection c = writers.get(node);
            if (c == null || !c.isValid(5)) {
                c = CLUSTER.connect(node);
                try (Statement s = c.createStatement()) {
                    s.execute("set statement_timeout = '2s'");
                }
                writers.put(node, c);
            }
            return c;
        }

        private void fault() {
            if (down != null && --downSteps <= 0) {
                restartDown();
            }
            if (cutOff != null && --cutSteps <= 0) {
                CLUSTER.proxy(cutOff).heal();
                cutOff = null;
            }
            if (engine != null && !engine.isAlive()) {
                // it could not reach the control database (on node a's server) when it started
                engine = EngineProcess.start(CLUSTER.controlUrl());
            }
            int dice = random.nextInt(100);
            if (dice < 20) {
                engine.kill();
                count("engine kill -9");
                engine = EngineProcess.start(CLUSTER.controlUrl());
            } else if (dice < 35 && down == null) {
                down = nodes.get(random.nextInt(nodes.size()));
                downSteps = 1 + random.nextInt(3);
                closeWriter(down);
                if (random.nextBoolean()) {
                    CLUSTER.server(down).stop();
                    count("node stop");
                } else {
                    CLUSTER.server(down).kill();
                    count("node kill");
                }
            } else if (dice < 55 && cutOff == null) {
                cutOff = nodes.get(random.nextInt(nodes.size()));
                cutSteps = 1 + random.nextInt(3);
                if (random.nextBoolean()) {
                    CLUSTER.proxy(cutOff).cut();
                    count("proxy cut");
                } else {
                    CLUSTER.proxy(cutOff).stall();
                    count("proxy stall");
                }
            }
        }

        private void count(String kind) {
            faults.merge(kind, 1, Integer::sum);
        }

        private void restartDown() {
            PgServer s = CLUSTER.server(down);
            if (!s.isRunning()) {
                s.restart();
            }
            down = null;
        }

        private void closeWriter(String node) {
            Connection c = writers.remove(node);
            if (c != null) {
                try {
                    c.close();
                } catch (SQLException ignored) {
                    // the node goes down next
                }
            }
        }

        private void healAll() {
            if (down != null) {
                restartDown();
            }
            for (String n : nodes) {
                CLUSTER.proxy(n).heal();
            }
            cutOff = null;
            writers.keySet().stream().toList().forEach(this::closeWriter);
        }

        /**
         * Runs the engine until every node holds the same rows; returns how long that took. As a
         * supervisor would, starts the engine again whenever it has exited: one started in the last
         * step, while node a's server (the control database) was down or starting, exits on its own
         * (ibex start fails fast when it cannot open the control database), possibly after the
         * faults healed.
         */
        private long recover() {
            long healed = System.nanoTime();
            try {
                try {
                    CLUSTER.awaitIdentical(SYNC, RECOVERY_DEADLINE, () -> {
                        if (engine == null || !engine.isAlive()) {
                            if (engine != null) {
                                String output = engine.output();
                                if (!output.contains("ibex: control database")) {
                                    throw new AssertionError("the engine exited during the recovery, not for want of its control "
                                            + "database:\n" + output);
                                }
                                System.out.println("ChaosIT " + context + ": the engine had exited during the recovery (it could not "
                                        + "open its control database when it started); starting it again");
                                engine.close();
                            }
                            engine = EngineProcess.start(CLUSTER.controlUrl());
                        }
                    });
                } catch (AssertionError e) {
                    throw new AssertionError(context + ", faults " + faults + ": nodes not identical after the faults healed: "
                            + e.getMessage() + "\nthe engine's last output lines:\n" + engine.outputTail(60), e);
                }
                long millis = (System.nanoTime() - healed) / 1_000_000;
                engine.terminate();
                assertTrue(engine.waitFor(Duration.ofSeconds(30)), "the engine stops on SIGTERM:\n" + engine.output());
                return millis;
            } finally {
                engine.close();
            }
        }
    }

}
