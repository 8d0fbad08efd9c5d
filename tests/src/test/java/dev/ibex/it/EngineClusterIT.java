package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.config.TableRef;
import dev.ibex.launch.EngineProcess;
import dev.ibex.testkit.Await;
import dev.ibex.testkit.PgServer;
import dev.ibex.testkit.Sql;
import dev.ibex.testkit.TcpProxy;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Three {@code ibex start} JVMs in a Pekko Cluster on loopback share twelve syncs (issue 13): the
 * syncs spread over the engines, a sync added, paused or removed is picked up within seconds, and
 * when an engine is killed, paused or stopped its syncs move to the others; an engine cut off from
 * the control database keeps its syncs. Writers run on every node all along. The test ends with
 * the usual oracle: every node identical; a key written on one node only holds that node's last
 * value, its balance (one more per write) showing that no write was applied twice or lost; and a
 * last write to each key written on several nodes wins everywhere (latest wins).
 */
class EngineClusterIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b", "c");
    private static final int SYNCS = 12;
    private static final int SOLO_KEYS = 60;
    private static final int SHARED_KEYS = 20;
    /** The key that a test writes on node a right after a fault, to see when each moved sync replicates again. */
    private static final int MARKER = 0;
    private static final Duration FAILOVER_LIMIT = Duration.ofSeconds(30);
    private static final Duration HANDOFF_LIMIT = Duration.ofSeconds(15);
    private static final Duration SETTLE = Duration.ofSeconds(90);

    @BeforeAll
    static void syncs() {
        for (String sync : syncNames()) {
            CLUSTER.execAll("create table " + sync + " (id integer primary key, val text not null, balance bigint not null)");
            CLUSTER.addSync(sync, TableRef.parse(sync));
        }
    }

    /**
     * One cluster of three engines through every fault in turn, each engine started again after it
     * (as its supervisor would): the tests share the engines' start and the final check, so that
     * the whole stays within a few minutes of the suite.
     */
    @Test
    void threeEnginesShareTheSyncsAndTakeOverFromEachOther() {
        int b = CLUSTER.server("b").port();
        // engine e3 reaches the control database through one proxy, and node b through another: its JVM resolves
        // 'localhost', the host of node b's URL, to 127.0.0.2, where that proxy listens on b's port
        CLUSTER.control().dsl().execute("update ibex.node set url = replace(url, '127.0.0.1', 'localhost') where name = 'b'");
        try (TcpProxy toControl = TcpProxy.start("127.0.0.1", CLUSTER.server("a").port());
             TcpProxy toNodeB = TcpProxy.start("127.0.0.2", b, "127.0.0.1", b);
             Engines engines = Engines.start("e", Map.of("e3", toControl.rewrite(CLUSTER.controlUrl())),
                     Map.of("e3", List.of("jdk.net.hosts.file=" + hostsFile("127.0.0.2 localhost"))));
             Writers writers = Writers.start("cluster", 1)) {
            awaitSpread(engines);
            syncsAddedPausedAndRemovedArePickedUpWithinSeconds(engines, writers);
            writers.runFor(Duration.ofSeconds(2));
            long killed = killedOwnersSyncsReplicateAgain(engines, writers);
            long[][] cuts = new long[2][];
            // while the paused engine is stopped, and once its syncs have moved, the two others go through the database cuts
            long[] paused = aPausedOwnerLosesItsSyncsAndCommitsNothingStaleWhenItWakes(engines, writers, live -> {
                cuts[0] = anEngineCutOffFromTheControlDatabaseFailsItsRoundsAndKeepsItsSyncs(engines, writers, toControl, live);
                cuts[1] = anEngineCutOffFromANodeFailsItsRoundsThereAndKeepsItsSyncs(engines, writers, toNodeB, live);
            });
            long[] cut = cuts[0];
            long[] nodeCut = cuts[1];
            List<List<Long>> handoffs = aRollingRestartHandsEachSyncOverWithinSeconds(engines, writers);
            writers.stop();
            writers.finish(engines);
            System.out.printf("EngineClusterIT: kill -9 of an owner: its syncs replicated again %d ms after the kill; SIGSTOP of an "
                            + "owner: %d ms after SIGSTOP, and after %d s and SIGCONT it exited in %d ms; rolling SIGTERM: per engine, "
                            + "ms from its SIGTERM until others had taken its syncs, and until they replicated again %s; one engine cut off from the control database "
                            + "for %d s kept its syncs, which replicated again %d ms after the cut healed; one engine cut off from "
                            + "node b for %d s kept its syncs, which replicated to b again %d ms after the cut healed; fence "
                            + "rejections %d; %s%n",
                    killed, paused[0], paused[2], paused[1], handoffs, cut[0], cut[1], nodeCut[0], nodeCut[1], fenceRejections(),
                    writers.summary());
            assertTrue(killed <= FAILOVER_LIMIT.toMillis(), "after kill -9, replicating again took " + killed + " ms");
            assertTrue(paused[0] <= FAILOVER_LIMIT.toMillis(), "after SIGSTOP, replicating again took " + paused[0] + " ms");
            for (List<Long> h : handoffs) {
                assertTrue(h.get(0) <= HANDOFF_LIMIT.toMillis(), "a hand-off took " + h.get(0) + " ms: " + handoffs);
                assertTrue(h.get(1) <= FAILOVER_LIMIT.toMillis(), "replicating again after a hand-off took " + h.get(1) + " ms");
            }
        }
    }

    /** Kills the busiest engine with SIGKILL; returns the milliseconds until its syncs replicate again. */
    private static long killedOwnersSyncsReplicateAgain(Engines engines, Writers writers) {
        Map<String, Owner> owners = awaitEveryOwned(engines.names(), all -> true);
        String victim = busiest(owners, e -> true);
        List<String> moved = syncsOf(owners, victim);
        long killed = System.nanoTime();
        engines.get(victim).kill();
        long replicated = awaitReplicatedAgain(engines, writers, moved, "kill", killed);
        Map<String, Owner> after = owners();
        for (String sync : moved) {
            assertNotEquals(victim, after.get(sync).engine(), "sync " + sync + " moved off the killed engine");
            assertTrue(after.get(sync).epoch() > owners.get(sync).epoch(), "sync " + sync + " was taken at a new epoch");
        }
        engines.restart(victim);
        return replicated;
    }

    /**
     * Stops the busiest engine but e3 with SIGSTOP for 60 s (longer if {@code meanwhileDo}, run with
     * the other engines' names once its syncs have moved, takes longer), then SIGCONT: on waking it
     * exits (downed by the others) without committing anything stale, which the final check would
     * show. Returns the milliseconds from SIGSTOP until its syncs replicate again, from SIGCONT until
     * it exited, and the seconds it was stopped.
     */
    private static long[] aPausedOwnerLosesItsSyncsAndCommitsNothingStaleWhenItWakes(Engines engines, Writers writers,
                                                                                   java.util.function.Consumer<java.util.Set<String>> meanwhileDo) {
        // settled first: the engine restarted by the previous step may be taking its share back
        Map<String, Owner> owners = awaitEveryOwned(engines.names(), all -> true);
        // not e3, which the cuts done meanwhile need
        String victim = busiest(owners, e -> !"e3".equals(e));
        List<String> moved = syncsOf(owners, victim);
        EngineProcess paused = engines.get(victim);
        long stopped = System.nanoTime();
        paused.suspend();
        long replicated = awaitReplicatedAgain(engines, writers, moved, "pause", stopped);
        meanwhileDo.accept(engines.names().stream().filter(n -> !n.equals(victim)).collect(Collectors.toSet()));
        writers.runFor(Duration.ofNanos(Math.max(0, stopped + Duration.ofSeconds(60).toNanos() - System.nanoTime())));
        Map<String, Owner> meanwhile = owners();
        for (String sync : moved) {
            assertNotEquals(victim, meanwhile.get(sync).engine(), "sync " + sync + " moved while its owner was stopped");
        }
        paused.resume();
        long resumed = System.nanoTime();
        // downed by the others while it was stopped, it shuts down on waking, for its supervisor to start it again
        writers.runUntil(() -> !paused.isAlive(), Duration.ofSeconds(60));
        assertEquals(1, paused.exitValue(), () -> "exit status 1 (stopped by itself):\n" + paused.outputTail(40));
        long exited = (System.nanoTime() - resumed) / 1_000_000;
        engines.restart(victim);
        return new long[] {replicated, exited, (resumed - stopped) / 1_000_000_000L};
    }

    /**
     * SIGTERM to each engine in turn, started again before the next; returns, per engine, the
     * milliseconds until another engine had taken each of its syncs, and until they replicated again.
     */
    private static List<List<Long>> aRollingRestartHandsEachSyncOverWithinSeconds(Engines engines, Writers writers) {
        List<List<Long>> handoffs = new ArrayList<>();
        for (String name : engines.names()) {
            List<String> moving = syncsOf(awaitOwning(name), name);
            long sent = System.nanoTime();
            EngineProcess leaving = engines.get(name);
            leaving.terminate();
            writers.runUntil(() -> {
                Map<String, Owner> now = owners();
                return moving.stream().allMatch(sync -> now.get(sync).engine() != null && !name.equals(now.get(sync).engine()));
            }, Duration.ofSeconds(60));
            long taken = (System.nanoTime() - sent) / 1_000_000;
            handoffs.add(List.of(taken, awaitReplicatedAgain(engines, writers, moving, "rolling-" + name, sent)));
            writers.runUntil(() -> !leaving.isAlive(), Duration.ofSeconds(30));
            assertEquals(143, leaving.exitValue(), () -> "engine " + name + " stopped on SIGTERM:\n" + leaving.outputTail(40));
            assertTrue(leaving.output().contains("ibex engine stopped"), leaving.outputTail(20));
            engines.restart(name);
        }
        return handoffs;
    }

    /**
     * Cuts the connections of one engine to the control database for about 12 s: its rounds fail, and no
     * sync changes hands (ownership follows cluster membership, which the cut does not touch).
     * Returns the cut's seconds and the milliseconds from healing until its syncs replicate again.
     */
    private static long[] anEngineCutOffFromTheControlDatabaseFailsItsRoundsAndKeepsItsSyncs(Engines engines, Writers writers,
                                                                                             TcpProxy toControl, java.util.Set<String> live) {
        Map<String, Owner> before = awaitSettled(live);
        List<String> cutOff = syncsOf(before, "e3");
        List<String> others = before.keySet().stream().filter(s -> !cutOff.contains(s)).toList();
        long cut = System.nanoTime();
        toControl.cut();
        writers.runFor(Duration.ofSeconds(8));
        awaitReplicatedAgain(engines, writers, others, "cut-others", System.nanoTime());
        String marker = "cut-" + System.nanoTime();
        writers.mark(cutOff.get(0), marker);
        writers.runFor(Duration.ofSeconds(3));
        assertEquals(0L, CLUSTER.count("b", "select count(*) from " + cutOff.get(0) + " where id = ? and val = ?",
                writers.key(MARKER), marker), "the cut-off engine's rounds fail: nothing of its syncs replicates");
        assertEquals(before, owners(), "no sync changed hands while one engine could not reach the control database");
        dev.ibex.engine.fence.Engines.EngineRow row = engineRow("e3");
        assertTrue(!row.running(), "ibex engines shows it not responding: " + row);
        toControl.heal();
        long healed = System.nanoTime();
        long replicated = awaitReplicatedAgain(engines, writers, cutOff, "cut-healed", healed);
        assertEquals(before, owners(), "the same owners at the same epochs after the cut healed");
        return new long[] {(healed - cut) / 1_000_000_000L, replicated};
    }

    /**
     * Cuts the connections of one engine to node b for about 10 s: its syncs' rounds leave b out
     * (the other nodes still replicate among themselves), and no sync changes hands. Returns the
     * cut's seconds and the milliseconds from healing until its syncs replicate to b again.
     */
    private static long[] anEngineCutOffFromANodeFailsItsRoundsThereAndKeepsItsSyncs(Engines engines, Writers writers,
                                                                                     TcpProxy toNodeB, java.util.Set<String> live) {
        Map<String, Owner> before = awaitSettled(live);
        List<String> cutOff = syncsOf(before, "e3");
        long cut = System.nanoTime();
        toNodeB.cut();
        writers.runFor(Duration.ofSeconds(5));
        String sync = cutOff.get(0);
        String marker = "node-cut-" + System.nanoTime();
        writers.mark(sync, marker);
        writers.runUntil(() -> CLUSTER.count("c", "select count(*) from " + sync + " where id = ? and val = ?", writers.key(MARKER),
                marker) == 1, Duration.ofSeconds(30));
        assertEquals(0L, CLUSTER.count("b", "select count(*) from " + sync + " where id = ? and val = ?", writers.key(MARKER), marker),
                "the engine that cannot reach b leaves it out of its rounds");
        assertEquals(before, owners(), "no sync changed hands while one engine could not reach node b");
        toNodeB.heal();
        long healed = System.nanoTime();
        long replicated = awaitReplicatedAgain(engines, writers, cutOff, "node-cut-healed", healed);
        assertEquals(before, owners(), "the same owners at the same epochs after the cut healed");
        return new long[] {(healed - cut) / 1_000_000_000L, replicated};
    }

    /**
     * Owners once every sync has one among {@code live}, e3 owns some, and nothing changed hands for
     * 3 s (Sharding has finished moving syncs), so that none moves during a fault.
     */
    private static Map<String, Owner> awaitSettled(java.util.Set<String> live) {
        return awaitEveryOwned(live, owners -> owners.values().stream().anyMatch(o -> "e3".equals(o.engine())));
    }

    /** Owners once every sync has one among {@code live}, {@code also} holds, and nothing changed hands for 3 s. */
    private static Map<String, Owner> awaitEveryOwned(java.util.Collection<String> live,
                                                      java.util.function.Predicate<Map<String, Owner>> also) {
        try {
            return Await.value("every sync owned by one of " + live + ", settled", Duration.ofSeconds(60), () -> {
                Map<String, Owner> now = owners();
                LockSupport.parkNanos(Duration.ofSeconds(3).toNanos());
                return now.equals(owners()) ? now : Map.<String, Owner>of();
            }, owners -> owners.size() == SYNCS && owners.values().stream().allMatch(o -> live.contains(o.engine())) && also.test(owners));
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "; owners now: " + owners(), e);
        }
    }

    private static java.nio.file.Path hostsFile(String line) {
        try {
            java.nio.file.Path f = java.nio.file.Files.createTempFile("ibex-hosts", ".txt");
            f.toFile().deleteOnExit();
            return java.nio.file.Files.writeString(f, line + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Waits until {@code engine} owns a sync (a restarted engine gets its share within seconds); returns the owners. */
    private static Map<String, Owner> awaitOwning(String engine) {
        return Await.value("engine " + engine + " owns a sync", Duration.ofSeconds(60), EngineClusterIT::owners,
                owners -> owners.values().stream().anyMatch(o -> engine.equals(o.engine())));
    }

    /** A sync added while the engines run replicates within seconds; paused, it stops; removed, it is let go. */
    private static void syncsAddedPausedAndRemovedArePickedUpWithinSeconds(Engines engines, Writers writers) {
        CLUSTER.execAll("create table ec_added (id integer primary key, val text not null)", "insert into ec_added values (1, 'init')");
        long added = System.nanoTime();
        CLUSTER.addSync("ec_added", TableRef.parse("ec_added"));
        CLUSTER.exec("a", "update ec_added set val = 'first' where id = 1");
        writers.runUntil(() -> CLUSTER.count("c", "select count(*) from ec_added where val = 'first'") == 1, Duration.ofSeconds(15));
        long replicatedMillis = (System.nanoTime() - added) / 1_000_000;
        String owner = CLUSTER.control().dsl().fetchOne("select owner_engine from ibex.sync where name = 'ec_added'").get(0, String.class);
        assertTrue(engines.names().contains(owner), "an engine of the cluster owns the new sync: " + owner);
        CLUSTER.control().syncs().setPaused("ec_added", true);
        writers.runFor(Duration.ofSeconds(2));
        CLUSTER.exec("a", "update ec_added set val = 'while paused' where id = 1");
        writers.runFor(Duration.ofSeconds(3));
        assertEquals(0L, CLUSTER.count("c", "select count(*) from ec_added where val = 'while paused'"), "a paused sync replicates nothing");
        CLUSTER.control().syncs().setPaused("ec_added", false);
        writers.runUntil(() -> CLUSTER.count("c", "select count(*) from ec_added where val = 'while paused'") == 1, Duration.ofSeconds(15));
        CLUSTER.control().syncs().remove("ec_added");
        // a round that started before the removal may still finish; the next one does not start
        writers.runFor(Duration.ofSeconds(2));
        CLUSTER.exec("a", "update ec_added set val = 'after removal' where id = 1");
        writers.runFor(Duration.ofSeconds(3));
        assertEquals(0L, CLUSTER.count("c", "select count(*) from ec_added where val = 'after removal'"), "a removed sync replicates nothing");
        for (String name : engines.names()) {
            engines.get(name).assertAlive();
        }
        System.out.printf("EngineClusterIT: a sync added while three engines ran replicated %d ms after it was added (owner %s)%n",
                replicatedMillis, owner);
    }

    private static dev.ibex.engine.fence.Engines.EngineRow engineRow(String name) {
        return new dev.ibex.engine.fence.Engines(CLUSTER.control().dataSource()).list().stream().filter(e -> e.name().equals(name))
                .findFirst().orElseThrow();
    }

    private static List<String> syncNames() {
        return IntStream.rangeClosed(1, SYNCS).mapToObj(i -> "ec" + i).toList();
    }

    /** A sync's owner as the control database records it. */
    private record Owner(String engine, long epoch) {
    }

    private static Map<String, Owner> owners() {
        Map<String, Owner> out = new LinkedHashMap<>();
        CLUSTER.control().dsl().fetch("select name, owner_engine, epoch from ibex.sync where name like 'ec%' order by name")
                .forEach(r -> out.put(r.get(0, String.class), new Owner(r.get(1, String.class), r.get(2, Long.class))));
        return out;
    }

    /** Waits until every sync is owned by a running engine, 4 ± 1 each (3 engines, 12 syncs), and returns the owners. */
    private static Map<String, Owner> awaitSpread(Engines engines) {
        return Await.value("every sync owned, 4 ± 1 per engine", Duration.ofSeconds(90), EngineClusterIT::owners, owners -> {
            Map<String, Long> per = owners.values().stream().filter(o -> o.engine() != null)
                    .collect(Collectors.groupingBy(Owner::engine, Collectors.counting()));
            return owners.values().stream().allMatch(o -> engines.names().contains(o.engine())) && per.size() == 3
                    && per.values().stream().allMatch(n -> n >= 3 && n <= 5);
        });
    }

    /** The engine owning the most syncs among those {@code eligible}. */
    private static String busiest(Map<String, Owner> owners, java.util.function.Predicate<String> eligible) {
        return owners.values().stream().map(Owner::engine).filter(eligible)
                .collect(Collectors.groupingBy(e -> e, Collectors.counting())).entrySet().stream()
                .max(Map.Entry.comparingByValue()).orElseThrow().getKey();
    }

    private static List<String> syncsOf(Map<String, Owner> owners, String engine) {
        List<String> out = owners.entrySet().stream().filter(e -> engine.equals(e.getValue().engine())).map(Map.Entry::getKey).toList();
        assertTrue(!out.isEmpty(), "engine " + engine + " owns syncs: " + owners);
        return out;
    }

    /**
     * Writes a marker on node a to every sync in {@code moved}, keeps the writers writing, and waits
     * until every other node holds every marker; returns the milliseconds since {@code since}.
     */
    private static long awaitReplicatedAgain(Engines engines, Writers writers, List<String> moved, String what, long since) {
        String marker = what + "-" + System.nanoTime();
        for (String sync : moved) {
            writers.mark(sync, marker);
        }
        try {
            writers.runUntil(() -> moved.stream().allMatch(sync -> CLUSTER.nodes().stream().allMatch(n -> CLUSTER.count(n,
                    "select count(*) from " + sync + " where id = ? and val = ?", writers.key(MARKER), marker) == 1)),
                    Duration.ofSeconds(90));
        } catch (AssertionError e) {
            throw new AssertionError(what + ": syncs " + moved + " do not replicate again; owners " + owners() + "\n"
                    + engines.outputs(), e);
        }
        return (System.nanoTime() - since) / 1_000_000;
    }

    /** Fence rejections the engines counted, over all syncs. */
    private static long fenceRejections() {
        return CLUSTER.control().dsl().fetchOne("select coalesce(sum(fence_rejections), 0)::bigint from ibex.sync").get(0, Long.class);
    }

    /**
     * Three engines, each its own {@code ibex start} JVM, in one cluster on loopback, messages
     * serialized even locally; named {@code PREFIX1..PREFIX3} so that each test tells its engines
     * from the last test's, which may still be named the owners of syncs.
     */
    private static final class Engines implements AutoCloseable {
        private final Map<String, Integer> ports = new LinkedHashMap<>();
        private final Map<String, EngineProcess> running = new LinkedHashMap<>();

        private final Map<String, String> controlUrls;
        private final Map<String, List<String>> properties;

        private Engines(Map<String, String> controlUrls, Map<String, List<String>> properties) {
            this.controlUrls = controlUrls;
            this.properties = properties;
        }

        /**
         * @param controlUrls the control database's URL for some engines (through a proxy), by name
         * @param properties  more {@code -D} system properties for some engines, by name
         */
        static Engines start(String prefix, Map<String, String> controlUrls, Map<String, List<String>> properties) {
            Engines e = new Engines(controlUrls, properties);
            for (int i = 1; i <= 3; i++) {
                e.ports.put(prefix + i, PgServer.reservePort()); // not an ephemeral port another connection may take
            }
            e.ports.keySet().forEach(e::launch);
            e.running.values().forEach(p -> p.awaitOutput("ibex engine running", Duration.ofSeconds(60)));
            e.ports.keySet().forEach(Engines::awaitUp);
            return e;
        }

        /**
         * Waits until the engine is an Up member of the cluster (as its row says): one still joining
         * does not count for the Split Brain Resolver's majority, so a fault before it is up may leave
         * no majority at all.
         */
        static void awaitUp(String name) {
            Await.until("engine " + name + " is up in the cluster", Duration.ofSeconds(60), () -> {
                dev.ibex.engine.fence.Engines.EngineRow row = engineRow(name);
                return "up".equals(row.state()) && row.heartbeatAgeMillis() < 3_000;
            });
        }

        private void launch(String name) {
            String seeds = ports.values().stream().limit(2).map(p -> "127.0.0.1:" + p).collect(Collectors.joining(","));
            List<String> props = new ArrayList<>(List.of("pekko.actor.serialize-messages=on"));
            props.addAll(properties.getOrDefault(name, List.of()));
            running.put(name, EngineProcess.start(controlUrls.getOrDefault(name, CLUSTER.controlUrl()), List.of("--engine-name", name,
                    "--cluster-bind", "127.0.0.1:" + ports.get(name), "--cluster-seeds", seeds), props.toArray(String[]::new)));
        }

        List<String> names() {
            return List.copyOf(ports.keySet());
        }

        EngineProcess get(String name) {
            return running.get(name);
        }

        void restart(String name) {
            running.remove(name).close();
            CLUSTER.control().dsl().execute("delete from ibex.engine where name = ?", name);
            launch(name);
            running.get(name).awaitOutput("ibex engine running", Duration.ofSeconds(60));
            awaitUp(name);
        }

        /** Output of every engine, for a failure message. */
        String outputs() {
            return running.entrySet().stream().map(e -> "--- engine " + e.getKey() + " ---\n" + e.getValue().outputTail(30))
                    .collect(Collectors.joining("\n"));
        }

        @Override
        public void close() {
            running.values().forEach(EngineProcess::close);
        }
    }

    /**
     * Application writers on every node: keys {@code 1..SOLO_KEYS} of each sync's table are each
     * written on one node only (node i writes the keys i + 1, i + 1 + 3, ...), adding one to the
     * balance each time; keys above 1000 on any node. One connection per node, written in turn from
     * the test's thread between its checks, about 60 writes a second.
     */
    private static final class Writers implements AutoCloseable {
        private static final long WRITE_EVERY_NANOS = Duration.ofMillis(15).toNanos();
        private final Random random = new Random(13);
        private final Map<String, WriteLog> solo = new HashMap<>();
        private final Map<String, Connection> connections = new LinkedHashMap<>();
        private final String context;
        /** Each test writes its own keys: {@code base + k}. */
        private final int base;
        private long blocked;
        private long sequence;
        private final AtomicBoolean stopped = new AtomicBoolean();

        private Writers(String context, int test) {
            this.context = context;
            this.base = test * 10_000;
            syncNames().forEach(s -> solo.put(s, new WriteLog()));
        }

        static Writers start(String context, int test) {
            return new Writers(context, test);
        }

        /** The row of this test's key {@code k}. */
        int key(int k) {
            return base + k;
        }

        void runFor(Duration d) {
            long end = System.nanoTime() + d.toNanos();
            runUntil(() -> System.nanoTime() >= end, d.plusSeconds(5));
        }

        /** Writes until {@code done}, checked about every 200 ms; fails after {@code timeout}. */
        void runUntil(java.util.function.BooleanSupplier done, Duration timeout) {
            long deadline = System.nanoTime() + timeout.toNanos();
            long next = System.nanoTime();
            long check = 0;
            while (true) {
                if (System.nanoTime() >= check) {
                    if (done.getAsBoolean()) {
                        return;
                    }
                    check = System.nanoTime() + Duration.ofMillis(200).toNanos();
                }
                if (System.nanoTime() > deadline) {
                    throw new AssertionError(context + ": timed out after " + timeout.toSeconds() + " s");
                }
                if (!stopped.get()) {
                    write();
                }
                next += WRITE_EVERY_NANOS;
                long wait = next - System.nanoTime();
                if (wait > 0) {
                    LockSupport.parkNanos(wait);
                } else {
                    next = System.nanoTime();
                }
            }
        }

        private void write() {
            List<String> nodes = CLUSTER.nodes();
            String node = nodes.get(random.nextInt(nodes.size()));
            String sync = syncNames().get(random.nextInt(SYNCS));
            String value = node + "-" + (++sequence);
            if (random.nextInt(3) > 0) {
                int key = key(1 + nodes.indexOf(node) + nodes.size() * random.nextInt(SOLO_KEYS / nodes.size()));
                WriteLog log = solo.get(sync);
                String last = log.last(node, key);
                if (last == null) {
                    if (run(node, "insert into " + sync + " values (?, ?, 1)", key, value)) {
                        log.wrote(node, key, value + "|1");
                    }
                } else {
                    long balance = Long.parseLong(last.substring(last.indexOf('|') + 1)) + 1;
                    if (run(node, "update " + sync + " set val = ?, balance = balance + 1 where id = ?", value, key)) {
                        log.wrote(node, key, value + "|" + balance);
                    }
                }
            } else {
                int key = key(1001 + random.nextInt(SHARED_KEYS));
                run(node, "insert into " + sync + " values (?, ?, 0) on conflict (id) do update set val = excluded.val", key, value);
            }
        }

        /**
         * Writes {@code marker} to the sync's marker row on node a (node a alone writes it), again
         * while a stale engine's open transaction holds the row and the statement timeout cancels it.
         */
        void mark(String sync, String marker) {
            retry(() -> run("a", "insert into " + sync + " values (?, ?, 0) on conflict (id) do update set val = excluded.val",
                    key(MARKER), marker));
            solo.get(sync).wrote("a", key(MARKER), marker + "|0");
        }

        private void retry(java.util.function.BooleanSupplier write) {
            Await.until(context + ": a write that a stale engine's row lock no longer holds up", Duration.ofSeconds(60),
                    write::getAsBoolean);
        }

        void stop() {
            stopped.set(true);
        }

        /**
         * Writes each shared key once more, one after the other, on a random node (these are the
         * latest writes), waits until every node holds the same rows, and checks the oracle.
         */
        void finish(Engines engines) {
            Map<String, Map<Integer, String>> last = new HashMap<>();
            for (String sync : syncNames()) {
                for (int k = 1001; k <= 1000 + SHARED_KEYS; k++) {
                    String node = CLUSTER.nodes().get(random.nextInt(CLUSTER.nodes().size()));
                    String value = "last-" + node + "-" + (++sequence);
                    int key = key(k);
                    retry(() -> run(node, "insert into " + sync + " values (?, ?, 0) on conflict (id) do update set val = excluded.val",
                            key, value));
                    last.computeIfAbsent(sync, s -> new HashMap<>()).put(key(k), value);
                    LockSupport.parkNanos(Duration.ofMillis(1).toNanos());
                }
            }
            for (String sync : syncNames()) {
                try {
                    CLUSTER.awaitIdentical(sync, SETTLE);
                } catch (AssertionError e) {
                    throw new AssertionError(context + ": " + e.getMessage() + "\n" + engines.outputs(), e);
                }
                int checked = solo.get(sync).assertSoleWriterRows(CLUSTER, CLUSTER.nodes(),
                        "select val || '|' || balance from " + sync + " where id = ?", context + ", sync " + sync);
                assertTrue(checked > 0, "keys written on one node only in " + sync);
                for (String n : CLUSTER.nodes()) {
                    for (Map.Entry<Integer, String> e : last.get(sync).entrySet()) {
                        assertEquals(e.getValue(), CLUSTER.rows(n, "select val from " + sync + " where id = ?", e.getKey()).get(0).get(0),
                                context + ": the last write to key " + e.getKey() + " of " + sync + " wins on node " + n);
                    }
                }
            }
        }

        String summary() {
            long writes = solo.values().stream().mapToLong(WriteLog::writes).sum();
            return sequence + " writes (" + writes + " to keys of one node), " + blocked
                    + " cancelled by the 2 s statement timeout behind a stale engine's row locks";
        }

        /** One application write (see {@link AppWrite#run}); false, and counted, if the statement timeout cancelled it. */
        private boolean run(String node, String sql, Object... args) {
            Connection c;
            try {
                c = connection(node);
            } catch (SQLException e) {
                throw new Sql.UncheckedSqlException(context + ": connecting to node " + node, e);
            }
            if (AppWrite.run(c, context + ": an application write on node " + node, sql, args)) {
                return true;
            }
            blocked++;
            return false;
        }

        private Connection connection(String node) throws SQLException {
            Connection c = connections.get(node);
            if (c == null) {
                c = CLUSTER.connect(node);
                try (Statement s = c.createStatement()) {
                    s.execute("set statement_timeout = '2s'");
                }
                connections.put(node, c);
            }
            return c;
        }

        @Override
        public void close() {
            for (Connection c : connections.values()) {
                try {
                    c.close();
                } catch (SQLException ignored) {
                    // the test is over
                }
            }
        }
    }
}
