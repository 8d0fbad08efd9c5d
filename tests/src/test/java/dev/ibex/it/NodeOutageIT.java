package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.runtime.Engine;
import dev.ibex.engine.status.SyncStatus;
import dev.ibex.testkit.Await;
import java.time.Duration;
import java.util.List;
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

    @Test
    void theOthersReplicateWhileOneNodeIsCutOffAndItCatchesUpByItself() {
        CLUSTER.execAll("create table outage (id integer primary key, v text)",
                "insert into outage select g, 'init' from generate_series(1, 10) g");
        TableRef t = new TableRef("public", "outage");
        CLUSTER.addSync("outage", t);
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
}
