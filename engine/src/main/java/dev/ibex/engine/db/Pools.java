package dev.ibex.engine.db;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import com.zaxxer.hikari.pool.HikariPool;
import dev.ibex.engine.UsageException;
import java.time.Duration;

/**
 * Connection pools (HikariCP) with Ibex's session settings and bounded timeouts. A pool for a
 * node that is down is still created; borrowing from it fails within the connect timeout, so one
 * dead node never blocks others.
 */
public final class Pools {
    static final String SESSION_SQL = "set timezone = 'UTC'; set datestyle = 'ISO, YMD'; "
            + "set intervalstyle = 'iso_8601'; set extra_float_digits = 3; set bytea_output = 'hex'; "
            + "set jit = off; set random_page_cost = 1.1; set work_mem = '64MB'; set temp_buffers = '64MB'";

    static {
        // Validate every borrowed connection (one empty query) that has been idle for more than
        // 200 ms (HikariCP's default is 500 ms): after a network cut, a connection the pool still
        // holds is dead, and a round must not fail on it. A connection used less than 200 ms ago is
        // handed out as it is, which saves back-to-back rounds a round trip per borrow (six per round
        // with two nodes): the cut it could have missed is one that a round in flight then would
        // have met as well, which rounds handle (the node sits the round out). Must be set before
        // HikariCP's pool class loads; an explicit setting wins.
        if (System.getProperty("com.zaxxer.hikari.aliveBypassWindowMs") == null) {
            System.setProperty("com.zaxxer.hikari.aliveBypassWindowMs", "200");
        }
    }

    private Pools() {
    }

    /**
     * @param failFast when true, the pool connects once now and the failure is thrown as
     *                 {@link NodeUnreachableException} or {@link UsageException} (bad password/database)
     */
    public static HikariDataSource open(String what, String url, String passwordEnv, int size, boolean failFast) {
        return open(what, url, passwordEnv, size, failFast, null);
    }

    /** The same, with {@code sessionSql} run on each new connection after Ibex's session settings. */
    public static HikariDataSource open(String what, String url, String passwordEnv, int size, boolean failFast, String sessionSql) {
        HikariConfig c = new HikariConfig();
        c.setPoolName("ibex-" + what.replaceAll("[^A-Za-z0-9_.-]", "_"));
        c.setJdbcUrl(url);
        c.setMaximumPoolSize(size);
        c.setMinimumIdle(0);
        c.setConnectionTimeout(Duration.ofSeconds(5).toMillis());
        c.setValidationTimeout(Duration.ofSeconds(2).toMillis());
        c.setIdleTimeout(Duration.ofMinutes(2).toMillis());
        c.setKeepaliveTime(Duration.ofSeconds(30).toMillis());
        c.setInitializationFailTimeout(failFast ? 1 : -1);
        c.setConnectionInitSql(sessionSql == null ? SESSION_SQL : SESSION_SQL + "; " + sessionSql);
        c.setExceptionOverrideClassName(StatementErrors.class.getName());
        c.addDataSourceProperty("connectTimeout", "5");
        c.addDataSourceProperty("socketTimeout", "60");
        c.addDataSourceProperty("tcpKeepAlive", "true");
        c.addDataSourceProperty("ApplicationName", "ibex");
        // PgJDBC (42.7.14) forgets every server-prepared statement of a connection when a CREATE, DROP
        // or ALTER completes on it, and every apply and change stream creates its temporary table
        // ('if not exists'): every statement of a round was parsed and planned again in every round
        // (the table definitions' read alone 4 ms of server time on the source). No statement of
        // Ibex's reads a relation whose shape changes under it without its text changing too (column
        // lists are spelled out; temporary tables are named after the shape).
        c.addDataSourceProperty("flushCacheOnDdl", "false");
        if (passwordEnv != null && !passwordEnv.isBlank()) {
            String pw = System.getenv(passwordEnv);
            if (pw == null) {
                throw new UsageException(what + ": environment variable " + passwordEnv
                        + " is not set; export it or choose another variable");
            }
            c.setPassword(pw);
        }
        try {
            return new HikariDataSource(c);
        } catch (HikariPool.PoolInitializationException e) {
            throw NodeConnector.connectFailure(what, url, e.getCause() != null ? e.getCause() : e);
        }
    }

    /**
     * HikariCP takes SQLSTATE 0A000 for a lost connection (some drivers report one so) and evicts
     * the connection with a logged stack trace; from PostgreSQL it is a statement the server does
     * not support (e.g. a DDL change to a column a trigger names, which 'ibex schema apply' tries),
     * and the session is fine.
     */
    public static final class StatementErrors implements com.zaxxer.hikari.SQLExceptionOverride {
        @java.lang.Override
        public com.zaxxer.hikari.SQLExceptionOverride.Override adjudicate(java.sql.SQLException e) {
            return "0A000".equals(e.getSQLState()) ? com.zaxxer.hikari.SQLExceptionOverride.Override.DO_NOT_EVICT
                    : com.zaxxer.hikari.SQLExceptionOverride.Override.CONTINUE_EVICT;
        }
    }
}
