package dev.ibex.engine.status;

import dev.ibex.engine.IbexException;
import dev.ibex.engine.db.NodeSettings;
import dev.ibex.engine.db.NodeConnector;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;

/**
 * Checks a node as Ibex will use it: reachable, PostgreSQL version, the role and whether it is
 * superuser, the privileges Ibex needs, and the clock skew against this machine's clock.
 */
public final class NodeProbe {
    /** Result of a probe; {@code error} is set (and the rest unknown) when the node is unreachable. */
    /** The oldest PostgreSQL Ibex runs on (server_version_num): 13, the oldest major the test suite passes on. */
    public static final int OLDEST_SUPPORTED = 130000;

    public record Report(String node, boolean reachable, String serverVersion, int versionNum, String user, boolean superuser,
                         boolean canCreateSchema, boolean canSetReplicationRole, long clockSkewMillis, String error) {
    }

    private static final String SQL = """
            select current_setting('server_version'), current_setting('server_version_num')::int, current_user,
                   (select rolsuper from pg_roles where rolname = current_user),
                   has_database_privilege(current_database(), 'CREATE'),
                   (select rolsuper from pg_roles where rolname = current_user) or %s,
                   (extract(epoch from %s) * 1000)::bigint""";
    /** Whether the role may set session_replication_role, where PostgreSQL (15+) can grant it to a non-superuser. */
    private static final String PARAMETER_PRIVILEGE = "has_parameter_privilege('session_replication_role', 'SET')";

    private NodeProbe() {
    }

    public static Report probe(NodeSettings n, Clock clock) {
        try (Connection c = new NodeConnector(5, 10).open("node " + n.name(), n.url(), n.passwordEnv())) {
            return probe(n.name(), c, clock);
        } catch (IbexException e) {
            return new Report(n.name(), false, null, 0, null, false, false, false, 0, e.getMessage());
        } catch (SQLException e) {
            return new Report(n.name(), false, null, 0, null, false, false, false, 0, e.getMessage());
        }
    }

    public static Report probe(String node, Connection c, Clock clock) throws SQLException {
        try (Statement s = c.createStatement()) {
            boolean ibexClock;
            try (ResultSet rs = s.executeQuery("select exists (select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
                    + "where n.nspname = 'ibex' and p.proname = 'clock' and has_schema_privilege(n.oid, 'USAGE') "
                    + "and has_function_privilege(p.oid, 'EXECUTE'))")) {
                ibexClock = rs.next() && rs.getBoolean(1);
            }
            // before 15 the function does not exist (a query naming it fails to parse) and only a superuser may set the parameter
            String parameterPrivilege = c.getMetaData().getDatabaseMajorVersion() >= 15 ? PARAMETER_PRIVILEGE : "false";
            // the clock capture stamps changes with, where the ibex schema is installed
            String sql = SQL.formatted(parameterPrivilege, ibexClock ? "ibex.clock()" : "clock_timestamp()");
            long before = clock.millis();
            try (ResultSet rs = s.executeQuery(sql)) {
                long after = clock.millis();
                rs.next();
                long skew = rs.getLong(7) - (before + after) / 2;
                return new Report(node, true, rs.getString(1), rs.getInt(2), rs.getString(3), rs.getBoolean(4), rs.getBoolean(5),
                        rs.getBoolean(6), skew, null);
            }
        }
    }
}
