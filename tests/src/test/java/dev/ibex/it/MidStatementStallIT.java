package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.runtime.Engine;
import dev.ibex.testkit.Await;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A node whose traffic is black-holed in the middle of a round (the engine is busy reading from
 * and applying to it) holds the round up only for the socket timeout, which node URLs can set
 * with PgJDBC's standard {@code socketTimeout} (Ibex's default is 60 s; here 3 s): the statement
 * fails, the round goes on or ends, later rounds skip the node while a background probe waits for
 * it, and the other nodes keep replicating. When the stall ends the node catches up.
 */
class MidStatementStallIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b", "c").withProxies();
    private static final int ROWS = 30_000;

    @Test
    void aNodeStalledMidRoundHoldsTheOthersUpOnlyForTheSocketTimeout() {
        CLUSTER.control().dsl().execute("update ibex.node set url = url || '&socketTimeout=3'");
        CLUSTER.execAll("create table midstall (id integer primary key, v text not null)",
                "insert into midstall select g, 'init' from generate_series(0, " + ROWS + ") g");
        CLUSTER.addSync("midstall", TableRef.parse("midstall"));
        CLUSTER.exec("a", "update midstall set v = 'backlog from a' where id > 0");
        try (Engine engine = CLUSTER.startEngine()) {
            Await.until("c holds part of the backlog", Duration.ofSeconds(60),
                    () -> CLUSTER.count("c", "select count(*) from midstall where v = 'backlog from a'") > 0);
            CLUSTER.proxy("c").stall();
            long onC = CLUSTER.count("c", "select count(*) from midstall where v = 'backlog from a'");
            long t0 = System.nanoTime();
            CLUSTER.exec("b", "update midstall set v = 'b during the stall' where id = 0");
            Await.until("b's change reaches a while c is black-holed mid-round", Duration.ofSeconds(90),
                    () -> CLUSTER.rows("a", "select v from midstall where id = 0").get(0).get(0).equals("b during the stall"));
            System.out.printf("MidStatementStallIT: c stalled with %d of %d backlog rows; b -> a took %d ms%n", onC, ROWS,
                    (System.nanoTime() - t0) / 1_000_000);
            CLUSTER.proxy("c").heal();
            Await.until("c catches up after the stall", Duration.ofSeconds(120),
                    () -> CLUSTER.count("c", "select count(*) from midstall where v = 'backlog from a'") == ROWS
                            && CLUSTER.rows("c", "select v from midstall where id = 0").get(0).get(0).equals("b during the stall"));
        } finally {
            CLUSTER.proxy("c").heal();
        }
        CLUSTER.converge("midstall");
        for (String n : CLUSTER.nodes()) {
            assertEquals(ROWS, CLUSTER.count(n, "select count(*) from midstall where v = 'backlog from a'"), "on " + n);
        }
    }
}
