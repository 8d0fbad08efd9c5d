package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.runtime.Engine;
import dev.ibex.testkit.Await;
import dev.ibex.testkit.Sql;
import java.sql.Connection;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A table that a target failed to take for a passing reason is retried within seconds, however
 * long the sync's interval: here b's apply runs into its lock timeout (a session on b holds the
 * table in EXCLUSIVE mode, which lets the round read b but not write it), the round ends partial
 * (both nodes reached, one table left behind on b), and once the lock is gone a's change reaches b
 * with no new write or kick to wake the engine. Before the fix the next round came one interval
 * (here an hour) later.
 */
class TransientErrorIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b");

    @Test
    void aTableATargetFailedToTakeIsRetriedSoonUnderALongInterval() throws Exception {
        CLUSTER.execAll("create table flaky (id integer primary key, v text)",
                "insert into flaky select g, 'init' from generate_series(1, 5) g");
        TableRef t = new TableRef("public", "flaky");
        CLUSTER.addSync("flaky", t);
        SyncSettings s = CLUSTER.control().syncs().get("flaky");
        CLUSTER.control().syncs().update(new SyncSettings(s.name(), s.nodes(), s.tables(), s.strategy(), s.priority(), Duration.ofHours(1),
                s.paused(), s.journalRetention(), s.maxClockSkew(), s.purgeInterval(), s.nodeRetention(), s.resyncNeeded()));

        try (Engine engine = CLUSTER.startEngine(); Connection locker = CLUSTER.connect("b"); Connection control = Sql.connect(CLUSTER.controlUrl())) {
            locker.setAutoCommit(false);
            Sql.exec(locker, "lock table flaky in exclusive mode");
            CLUSTER.exec("a", "update flaky set v = 'a while b is locked' where id = 1");
            List<List<String>> failed = Await.value("a round leaves the table behind on b", Duration.ofSeconds(30),
                    () -> Sql.rows(control, "select outcome, error from ibex.round where sync_name = 'flaky' and outcome <> 'ok'"),
                    rows -> !rows.isEmpty());
            assertEquals("partial", failed.get(0).get(0), failed.toString());
            assertTrue(failed.get(0).get(1).contains("lock"), "the round says why b did not take the rows: " + failed);
            assertEquals(List.of(List.of("init")), CLUSTER.rows("b", "select v from flaky where id = 1"));

            locker.commit();
            long t0 = System.nanoTime();
            Await.until("a's change reaches b once b's table is free", Duration.ofSeconds(30),
                    () -> CLUSTER.rows("b", "select v from flaky where id = 1").get(0).get(0).equals("a while b is locked"));
            System.out.printf("TransientErrorIT: b took the rows %d ms after its lock went%n", (System.nanoTime() - t0) / 1_000_000);
        }
        CLUSTER.converge("flaky");
    }
}
