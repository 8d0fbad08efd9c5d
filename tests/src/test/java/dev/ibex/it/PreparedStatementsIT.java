package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import dev.ibex.engine.db.NodeDirectory;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A node connection keeps its server-prepared statements when a temporary table is created on it,
 * as every apply and every change stream does: PgJDBC's default forgets them all on any CREATE,
 * and every statement of a round was then parsed and planned again in every round.
 */
class PreparedStatementsIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a");
    private static final String QUERY = "select count(*) from pg_catalog.pg_class where relname = ?";

    @Test
    void creatingATemporaryTableKeepsTheConnectionsPreparedStatements() throws SQLException {
        try (NodeDirectory nodes = new NodeDirectory(CLUSTER.control().nodes()::get);
             Connection c = nodes.pool("a").getConnection()) {
            // PgJDBC prepares a statement on the server from its fifth execution on
            for (int i = 0; i < 6; i++) {
                run(c);
            }
            Timestamp prepared = preparedAt(c);
            assertNotNull(prepared, "the query is prepared on the server after six executions");
            try (Statement s = c.createStatement()) {
                s.execute("create temp table if not exists ibex_probe (id integer) on commit delete rows");
                s.execute("create temp table if not exists ibex_probe (id integer) on commit delete rows");
            }
            run(c);
            assertEquals(prepared, preparedAt(c), "the query ran on the statement prepared before the temporary table");
        }
    }

    private static void run(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(QUERY)) {
            ps.setString(1, "pg_class");
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                assertEquals(1, rs.getLong(1));
            }
        }
    }

    /** When the session prepared the query (PgJDBC's form, {@code $1}), or null; at most one such statement may exist. */
    private static Timestamp preparedAt(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("select prepare_time from pg_catalog.pg_prepared_statements where statement = ?")) {
            ps.setString(1, QUERY.replace("?", "$1"));
            try (ResultSet rs = ps.executeQuery()) {
                Timestamp t = rs.next() ? rs.getTimestamp(1) : null;
                assertFalse(rs.next(), "one server statement for the query");
                return t;
            }
        }
    }
}
