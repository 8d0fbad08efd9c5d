package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.CrashPoints;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.runtime.Engine;
import dev.ibex.engine.status.SyncStatus;
import dev.ibex.testkit.Await;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A master the engine cannot reach stalls nothing else: with node c cut off at the network (its
 * proxy refuses connections) while every node keeps taking writes, the running engine goes on
 * replicating between a and b; status shows c unreachable, since when, and how many changed keys
 * wait for it; when the cut heals the engine reconnects by itself and c catches up, including the
 * changes it took while cut off.
 */
class NodeOutageIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b", "c").withProxies();

    /** A table of ten rows ('init') on every node, in a sync of its own name. */
    private static void table(String name) {
        CLUSTER.execAll("create table " + name + " (id integer primary key, v text)",
                "insert into " + name + " select g, 'init' from generate_series(1, 10) g");
        CLUSTER.addSync(name, new TableRef("public", name));
    }

    @Test
    void theOthersReplicateWhileOneNodeIsCutOffAndItCatchesUpByItself() {
        table("outage");
        try (Engine engine = CLUSTER.startEngine()) {
            CLUSTER.exec("a", "update outage set v = 'a before the cut' where id = 1");
            Await.until("the first change reaches c", Duration.ofSeconds(30),
                    () -> CLUSTER.rows("c", "select v from outage where id = 1").get(0).get(0).equals("a before the cut"));

            CLUSTER.proxy("c").cut();
            CLUSTER.exec("a", "update outage set v = 'a during the cut' where id = 2");
            CLUSTER.exec("b", "update outage set v = 'b during the cut' where id = 3");
            CLUSTER.exec("c", "update outage set v = 'c during the cut' where id = 4");
            Await.until("a and b exchange their changes while c is cut off", Duration.ofSeconds(60),
                    () -> CLUSTER.rows("b", "select v from outage where id = 2").get(0).get(0).equals("a during the cut")
                            && CLUSTER.rows("a", "select v from outage where id = 3").get(0).get(0).equals("b during the cut"));
            // once c is known to be down, rounds skip it at once: a change from a reaches b without a connect timeout
            List<Long> lags = new java.util.ArrayList<>();
            for (int i = 0; i < 5; i++) {
                String v = "a during the cut #" + i;
                long t0 = System.nanoTime();
                CLUSTER.execWith("a", "update outage set v = ? where id = 5", v);
                Await.until("a's change " + i + " reaches b", Duration.ofSeconds(30),
                        () -> CLUSTER.rows("b", "select v from outage where id = 5").get(0).get(0).equals(v));
                lags.add((System.nanoTime() - t0) / 1_000_000);
            }
            System.out.println("NodeOutageIT: a -> b while c is cut off, ms: " + lags);

            SyncStatus status = Await.value("status shows c unreachable", Duration.ofSeconds(30), () -> CLUSTER.status("outage"),
                    s -> s.nodes().stream().anyMatch(n -> n.node().equals("c") && !n.reachable()));
            SyncStatus.NodeStatus c = status.nodes().stream().filter(n -> n.node().equals("c")).findFirst().orElseThrow();
            assertNotNull(c.lastReachedAt(), "when a round last reached c: " + c);
            assertTrue(c.waitingForIt() != null && c.waitingForIt() >= 2, "a's and b's changes wait for c: " + c);
            assertTrue(status.warnings().stream().anyMatch(w -> w.contains("node c is unreachable since")), status.warnings().toString());
            assertEquals(List.of(List.of("init")), CLUSTER.rows("a", "select v from outage where id = 4"), "c's change is not out yet");

            CLUSTER.proxy("c").heal();
            Await.until("c catches up and its own change goes out", Duration.ofSeconds(60),
                    () -> CLUSTER.rows("c", "select v from outage where id = 3").get(0).get(0).equals("b during the cut")
                            && CLUSTER.rows("a", "select v from outage where id = 4").get(0).get(0).equals("c during the cut")
                            && CLUSTER.rows("b", "select v from outage where id = 4").get(0).get(0).equals("c during the cut"));
            assertFalse(engine.stoppedOnRequest());
        }
        CLUSTER.converge("outage");
    }

    /**
     * A key deferred because another node changed it since its fold holds the source's watermark back
     * to its own position, not just until that node's next fold: should the node then drop out, the
     * source's change still reaches the others.
     */
    @Test
    void aChangeDeferredForAnotherNodesWriteReachesTheOthersWhenThatNodeDropsOut() {
        table("deferred_out");
        CLUSTER.exec("a", "update deferred_out set v = 'a' where id in (1, 2)");
        AtomicBoolean once = new AtomicBoolean();
        CrashPoints.at(CrashPoints.LOGS_FOLDED, () -> {
            if (once.compareAndSet(false, true)) {
                CLUSTER.exec("c", "update deferred_out set v = 'c, after the fold' where id = 1");
            }
        });
        try {
            CLUSTER.round("deferred_out");
        } finally {
            CrashPoints.clear();
        }
        assertEquals(List.of(List.of("1", "init"), List.of("2", "a")), CLUSTER.rows("b", "select id, v from deferred_out where id <= 2 order by id"),
                "key 1 waits for c's unfolded change, key 2 went out");
        CLUSTER.proxy("c").cut();
        try {
            CLUSTER.round("deferred_out");
            assertEquals(List.of(List.of("a")), CLUSTER.rows("b", "select v from deferred_out where id = 1"),
                    "with c gone, the next round reads a's key 1 again and b gets it");
        } finally {
            CLUSTER.proxy("c").heal();
        }
        // the round that met the cut marked c down; a probe in the background brings it back
        Await.until("rounds reach c again", Duration.ofSeconds(60), () -> CLUSTER.round("deferred_out").errors().isEmpty());
        CLUSTER.converge("deferred_out");
        for (String n : CLUSTER.nodes()) {
            assertEquals(List.of(List.of("c, after the fold"), List.of("a")), CLUSTER.rows(n, "select v from deferred_out where id <= 2 order by id"),
                    "on " + n + ": c's later write wins key 1 (latest)");
        }
    }
}
