package dev.ibex.engine.config;

import com.zaxxer.hikari.HikariDataSource;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.db.NodeUnreachableException;
import dev.ibex.engine.db.Pools;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.db.SqlErrors;
import dev.ibex.engine.fence.Fence;
import java.sql.Connection;
import java.sql.SQLException;
import org.flywaydb.core.Flyway;
import org.jooq.ConnectionProvider;
import org.jooq.DSLContext;
import org.jooq.ExecuteContext;
import org.jooq.ExecuteListener;
import org.jooq.SQLDialect;
import org.jooq.impl.DSL;
import org.jooq.impl.DefaultConfiguration;
import org.jooq.impl.DefaultExecuteListenerProvider;

/**
 * The control database (schema {@code ibex}, managed by Flyway): its connection pools, its
 * migrations, and Ibex's configuration in it by concern — {@link #nodes()}, {@link #syncs()},
 * {@link #tables()} and each sync's round lock and kick ({@link #rounds()}).
 */
public final class ControlStore implements AutoCloseable {
    /** Connections for rounds' round locks, each held for a whole round, apart from the others so that they never starve them. */
    static final int LOCK_POOL_SIZE = 9; // RoundService.MAX_CONCURRENT_ROUNDS (8), and one for a resync or a test

    private final HikariDataSource pool;
    private final HikariDataSource locks;
    private final DSLContext dsl;
    private final NodeCatalog nodes;
    private final SyncCatalog syncs;
    private final TableCatalog tables;
    private final RoundLocks rounds;

    private ControlStore(HikariDataSource pool, HikariDataSource locks) {
        this.pool = pool;
        this.locks = locks;
        this.dsl = DSL.using(new DefaultConfiguration().set(SQLDialect.POSTGRES).set(new Connections(pool))
                .set(new DefaultExecuteListenerProvider(new LostConnections())));
        this.nodes = new NodeCatalog(dsl);
        this.tables = new TableCatalog(dsl);
        this.syncs = new SyncCatalog(dsl, nodes, tables);
        this.rounds = new RoundLocks(locks, dsl, syncs);
    }

    /** A statement whose connection broke (SQLSTATE class 08, 57P) fails as "control database unreachable". */
    private static final class LostConnections implements ExecuteListener {
        @Override
        public void exception(ExecuteContext ctx) {
            SQLException e = ctx.sqlException();
            if (e != null && SqlErrors.isConnectionFailure(e)) {
                ctx.exception(lost(e));
            }
        }
    }

    /**
     * Lends the pool's connections to jOOQ; a connection that cannot be had becomes a
     * {@link NodeUnreachableException} that says, in one line, that the control database is
     * unreachable and why (the driver's reason, not the pool's statistics).
     */
    private record Connections(HikariDataSource pool) implements ConnectionProvider {
        @Override
        public Connection acquire() {
            try {
                return pool.getConnection();
            } catch (SQLException e) {
                throw new NodeUnreachableException("control database unreachable: " + SqlErrors.connectFailure(e), e);
            }
        }

        @Override
        public void release(Connection c) {
            try {
                c.close();
            } catch (SQLException e) {
                // the pool discards a connection it cannot take back
            }
        }
    }

    public static ControlStore open(String url, String passwordEnv) {
        if (url == null || url.isBlank()) {
            throw new UsageException("no control database: give --control JDBC_URL or set IBEX_CONTROL");
        }
        if (!url.startsWith("jdbc:postgresql:")) {
            throw new UsageException("--control must be a PostgreSQL JDBC URL (jdbc:postgresql://HOST:PORT/DATABASE)");
        }
        HikariDataSource pool = Pools.open("control database", url, passwordEnv, 8, true);
        return new ControlStore(pool, Pools.open("control database (round locks)", url, passwordEnv, LOCK_POOL_SIZE, false));
    }

    public javax.sql.DataSource dataSource() {
        return pool;
    }

    public DSLContext dsl() {
        return dsl;
    }

    public NodeCatalog nodes() {
        return nodes;
    }

    public SyncCatalog syncs() {
        return syncs;
    }

    public TableCatalog tables() {
        return tables;
    }

    public RoundLocks rounds() {
        return rounds;
    }

    /** Creates or upgrades the control schema; idempotent. Returns the number of migrations applied. */
    public int migrate() {
        return Flyway.configure().dataSource(pool).locations("classpath:db/control").schemas("ibex")
                .createSchemas(true).table("ibex_schema_history").load().migrate().migrationsExecuted;
    }

    /** Refuses to go on when {@code ibex setup} has not been run against this database. */
    public void requireSetUp() {
        Object found = dsl.fetchValue("select count(*)::int from pg_catalog.pg_tables where schemaname = 'ibex' and tablename = 'sync'");
        if (!(found instanceof Number n) || n.intValue() == 0) {
            throw new UsageException("the control database has no Ibex schema: run 'ibex setup' first");
        }
    }

    /** The transaction's context, after checking {@code fence} in it. */
    public static DSLContext fenced(org.jooq.Configuration cfg, Fence fence) {
        DSLContext tx = DSL.using(cfg);
        tx.execute("select ibex.fence(?, ?)", fence.sync(), fence.epoch());
        return tx;
    }

    @Override
    public void close() {
        locks.close();
        pool.close();
    }

    /** Work on a connection of the control database in plain JDBC. */
    @FunctionalInterface
    public interface Jdbc<T> {
        T run(Connection c) throws SQLException;
    }

    /**
     * Runs {@code work} on a connection of {@code dsl} (its transaction's, if it has one) in plain
     * JDBC, for the statements every round runs: no rendering, and PgJDBC keeps them prepared on each
     * pooled connection. A lost connection fails as "control database unreachable", as through jOOQ;
     * any other failure as {@link #failure} with what was being {@code done}.
     */
    public static <T> T plain(DSLContext dsl, String doing, Jdbc<T> work) {
        return dsl.connectionResult(c -> {
            try {
                return work.run(c);
            } catch (SQLException e) {
                if (SqlErrors.isConnectionFailure(e)) {
                    throw lost(e);
                }
                throw failure(doing, e);
            }
        });
    }

    /** A statement's connection broke: the control database is unreachable, and why (one line, no credentials). */
    private static NodeUnreachableException lost(SQLException e) {
        return new NodeUnreachableException("control database unreachable: " + Redactor.text(Redactor.firstLine(e.getMessage())), e);
    }

    /** Wraps an unexpected control-database failure with what was being done. */
    public static IbexException failure(String doing, Exception e) {
        return new IbexException("control database: " + doing + ": " + e.getMessage(), e);
    }
}
