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
 * uses) is not cut short by it, nor given generic plans; and only its writer, from the node's pool
 * of writers, writes as a replica.
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
                assertEquals("0", settingOfEach(nodes.pool(node), 8, "lock_timeout"), "node " + node + ": no bound left on lock waits");
                // the versions read asks for a generic plan for its own implicit transaction only
                assertEquals("auto", settingOfEach(nodes.pool(node), 8, "plan_cache_mode"), "node " + node + ": plans chosen as usual");
            }
        }
    }

    /**
     * A round's writer comes from the node's pool of writers, whose sessions are replicas (so that
     * its cached plans survive the apply's setting); nothing else gets such a session: the node's
     * other pool hands out ordinary sessions, and a write made through one is captured.
     */
    @Test
    void onlyRoundsWritersAreReplicas() throws SQLException {
        CLUSTER.execAll("create table roles (id integer primary key, v text)");
        CLUSTER.addSync("roles", new TableRef("public", "roles"));
        try (NodeDirectory nodes = new NodeDirectory(CLUSTER.control().nodes()::get)) {
            RoundService rounds = new RoundService(CLUSTER.control(), nodes, Clock.systemUTC());
            CLUSTER.exec("a", "insert into roles values (1, 'from a')");
            CLUSTER.exec("b", "insert into roles values (2, 'from b')");
            RoundReport r = rounds.run("roles");
            assertTrue(r.problems().isEmpty(), r.problems().toString());
            for (String node : List.of("a", "b")) {
                assertEquals(List.of(List.of("from a"), List.of("from b")), CLUSTER.rows(node, "select v from roles order by id"));
                assertEquals("origin", settingOfEach(nodes.pool(node), 8, "session_replication_role"), "node " + node + ": the pool for everything but rounds' writers");
                assertEquals("replica", settingOfEach(nodes.writers(node), 8, "session_replication_role"), "node " + node + ": rounds' writers");
            }
            try (Connection c = nodes.pool("b").getConnection(); Statement s = c.createStatement()) {
                s.execute("insert into roles values (3, 'through the pool')");
            }
            r = rounds.run("roles");
            assertTrue(r.problems().isEmpty(), r.problems().toString());
            assertEquals(List.of(List.of("through the pool")), CLUSTER.rows("a", "select v from roles where id = 3"));
        }
    }

    /**
     * The change stream's setup (the unfolded log's keys, the count of changed keys) is a statement
     * with parameters, kept prepared on the stream's connection across rounds: its text no longer
     * carries the round's snapshot and position, so the server parses and plans it once.
     */
    @Test
    void theChangeStreamsSetupStaysPreparedAcrossRounds() throws SQLException {
        CLUSTER.execAll("create table streamed (id integer primary key, v text)");
        CLUSTER.addSync("streamed", new TableRef("public", "streamed"));
        try (NodeDirectory nodes = new NodeDirectory(CLUSTER.control().nodes()::get)) {
            RoundService rounds = new RoundService(CLUSTER.control(), nodes, Clock.systemUTC());
            // PgJDBC prepares a statement on the server from its fifth execution on a connection
            for (int i = 1; i <= 10; i++) {
                CLUSTER.exec("a", "insert into streamed values (" + i + ", 'from a')");
                RoundReport r = rounds.run("streamed");
                assertTrue(r.problems().isEmpty(), r.problems().toString());
            }
            assertEquals(List.of(List.of("10")), CLUSTER.rows("b", "select count(*)::text from streamed"));
            long prepared = onEach(nodes.pool("a"), 8, "select count(*) from pg_catalog.pg_prepared_statements "
                    + "where statement like '%ibex_unfolded%' and statement like '%$3::xid8%'").stream().mapToLong(Long::parseLong).sum();
            assertTrue(prepared >= 1, "the stream's setup is prepared on one of a's connections");
        }
    }

    /** The one value of {@code setting} on {@code count} connections borrowed from {@code pool} at once, or a list of the values. */
    private static String settingOfEach(javax.sql.DataSource pool, int count, String setting) throws SQLException {
        java.util.Set<String> values = new java.util.TreeSet<>(onEach(pool, count, "show " + setting));
        return values.size() == 1 ? values.iterator().next() : values.toString();
    }

    /** The first column of {@code query}'s one row on each of {@code count} connections borrowed from {@code pool} at once. */
    private static List<String> onEach(javax.sql.DataSource pool, int count, String query) throws SQLException {
        List<Connection> all = new ArrayList<>();
        List<String> values = new ArrayList<>();
        try {
            for (int i = 0; i < count; i++) {
                all.add(pool.getConnection());
            }
            for (Connection c : all) {
                try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(query)) {
                    rs.next();
                    values.add(rs.getString(1));
                }
            }
        } finally {
            for (Connection c : all) {
                c.close();
            }
        }
        return values;
    }
}
