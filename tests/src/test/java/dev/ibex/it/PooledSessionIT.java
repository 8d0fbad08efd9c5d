package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.round.RoundReport;
import dev.ibex.engine.runtime.RoundService;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A round hands its node connections back to the pool as it took them: the bound it puts on the
 * reader's lock waits (1 s, against DDL queued behind the round's stream) ends in the round's last
 * statement on each node, so other work on the pool (status, validation, the next round's other
 * uses) is not cut short by it.
 */
class PooledSessionIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b");

    @Test
    void aRoundLeavesNoBoundOnLockWaitsOnItsPooledConnections() throws SQLException {
        CLUSTER.execAll("create table pooled (id integer primary key, v text)");
        CLUSTER.addSync("pooled", new TableRef("public", "pooled"));
        try (NodeDirectory nodes = new NodeDirectory(CLUSTER.control().nodes()::get)) {
            RoundService rounds = new RoundService(CLUSTER.control(), nodes, Clock.systemUTC());
            CLUSTER.exec("a", "insert into pooled values (1, 'from a')");
            RoundReport r = rounds.run("pooled");
            assertTrue(r.problems().isEmpty(), r.problems().toString());
            assertEquals(List.of(List.of("from a")), CLUSTER.rows("b", "select v from pooled where id = 1"));
            for (String node : List.of("a", "b")) {
                // more connections than a round holds on a node (reader, writer, stream): the round's reader is among them
                List<Connection> all = new ArrayList<>();
                try {
                    for (int i = 0; i < 8; i++) {
                        all.add(nodes.pool(node).getConnection());
                    }
                    for (Connection c : all) {
                        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("show lock_timeout")) {
                            rs.next();
                            assertEquals("0", rs.getString(1), "node " + node + ": no bound left on lock waits");
                        }
                    }
                } finally {
                    for (Connection c : all) {
                        c.close();
                    }
                }
            }
        }
    }
}
