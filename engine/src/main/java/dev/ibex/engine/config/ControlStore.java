package dev.ibex.engine.config;

import static dev.ibex.schema.control.jooq.Tables.NODE;
import static dev.ibex.schema.control.jooq.Tables.SYNC;
import static dev.ibex.schema.control.jooq.Tables.SYNC_NODE;
import static dev.ibex.schema.control.jooq.Tables.SYNC_TABLE;

import com.zaxxer.hikari.HikariDataSource;
import dev.ibex.conflict.NodeId;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.db.NodeSettings;
import dev.ibex.engine.db.NodeUnreachableException;
import dev.ibex.engine.db.Pools;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.db.SqlErrors;
import dev.ibex.engine.fence.Fence;
import dev.ibex.schema.control.jooq.tables.records.SyncRecord;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.flywaydb.core.Flyway;
import org.jooq.ConnectionProvider;
import org.jooq.DSLContext;
import org.jooq.ExecuteContext;
import org.jooq.ExecuteListener;
import org.jooq.SQLDialect;
import org.jooq.impl.DSL;
import org.jooq.impl.DefaultConnectionProvider;
import org.jooq.impl.DefaultConfiguration;
import org.jooq.impl.DefaultExecuteListenerProvider;

/**
 * Ibex's configuration in the control database (schema {@code ibex}, managed by Flyway): nodes,
 * syncs with their node ordinals, tables and per-table settings. Every change is one transaction
 * and is validated before anything is written, so a refused command changes nothing.
 */
public final class ControlStore implements AutoCloseable {
    /** Connections for rounds' round locks, each held for a whole round, apart from the others so that they never starve them. */
    static final int LOCK_POOL_SIZE = 9; // RoundService.MAX_CONCURRENT_ROUNDS (8), and one for a resync or a test

    private final HikariDataSource pool;
    private final HikariDataSource locks;
    private final DSLContext dsl;

    private ControlStore(HikariDataSource pool, HikariDataSource locks) {
        this.pool = pool;
        this.locks = locks;
        this.dsl = DSL.using(new DefaultConfiguration().set(SQLDialect.POSTGRES).set(new Connections(pool))
                .set(new DefaultExecuteListenerProvider(new LostConnections())));
    }

    /** A statement whose connection broke (SQLSTATE class 08, 57P) fails as "control database unreachable". */
    private static final class LostConnections implements ExecuteListener {
        @Override
        public void exception(ExecuteContext ctx) {
            SQLException e = ctx.sqlException();
            if (e != null && SqlErrors.isConnectionFailure(e)) {
                ctx.exception(new NodeUnreachableException("control database unreachable: "
                        + Redactor.text(Redactor.firstLine(e.getMessage())), e));
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

    public void addNode(NodeSettings n) {
        n.requireNoPasswordInUrl();
        if (dsl.fetchExists(NODE, NODE.NAME.eq(n.name()))) {
            throw new UsageException("node " + n.name() + " exists already; remove it first or pick another name");
        }
        dsl.insertInto(NODE).set(NODE.NAME, n.name()).set(NODE.URL, n.url()).set(NODE.PASSWORD_ENV, n.passwordEnv()).execute();
    }

    public List<NodeSettings> nodes() {
        return dsl.selectFrom(NODE).orderBy(NODE.NAME).fetch(r -> new NodeSettings(r.getName(), r.getUrl(), r.getPasswordEnv()));
    }

    public NodeSettings node(String name) {
        return dsl.selectFrom(NODE).where(NODE.NAME.eq(name)).fetchOptional()
                .map(r -> new NodeSettings(r.getName(), r.getUrl(), r.getPasswordEnv()))
                .orElseThrow(() -> new UsageException("unknown node '" + name + "': see 'ibex node list'"));
    }

    public void removeNode(String name) {
        node(name);
        List<String> syncs = dsl.select(SYNC_NODE.SYNC_NAME).from(SYNC_NODE).where(SYNC_NODE.NODE_NAME.eq(name)).fetch(SYNC_NODE.SYNC_NAME);
        if (!syncs.isEmpty()) {
            throw new UsageException("node " + name + " is in sync(s) " + syncs + "; remove those syncs first");
        }
        dsl.deleteFrom(NODE).where(NODE.NAME.eq(name)).execute();
    }

    public boolean syncExists(String name) {
        return dsl.fetchExists(SYNC, SYNC.NAME.eq(name));
    }

    /** Stores a new sync, its node ordinals and tables in one transaction. */
    public void addSync(SyncSettings s) {
        if (syncExists(s.name())) {
            throw new UsageException("sync " + s.name() + " exists already; remove it first or pick another name");
        }
        for (NodeId n : s.nodes()) {
            node(n.name());
        }
        for (TableSettings t : s.tables()) {
            requireFree(t.table());
        }
        dsl.transaction(cfg -> {
            DSLContext tx = DSL.using(cfg);
            tx.insertInto(SYNC).set(SYNC.NAME, s.name()).set(SYNC.STRATEGY, s.strategy())
                    .set(SYNC.PRIORITY, s.priority().isEmpty() ? null : String.join(",", s.priority()))
                    .set(SYNC.INTERVAL_MS, s.interval().toMillis()).set(SYNC.PAUSED, s.paused())
                    .set(SYNC.JOURNAL_RETENTION_MS, s.journalRetention().toMillis())
                    .set(SYNC.MAX_CLOCK_SKEW_MS, s.maxClockSkew().toMillis())
                    .set(SYNC.PURGE_INTERVAL_MS, s.purgeInterval().toMillis())
                    .set(SYNC.NODE_RETENTION_MS, s.nodeRetention().toMillis()).execute();
            for (NodeId n : s.nodes()) {
                tx.insertInto(SYNC_NODE).set(SYNC_NODE.SYNC_NAME, s.name()).set(SYNC_NODE.NODE_NAME, n.name())
                        .set(SYNC_NODE.ORDINAL, n.ordinal()).execute();
            }
            insertTables(tx, s.name(), s.tables());
        });
    }

    private void requireFree(TableRef t) {
        Optional<String> owner = syncOf(t);
        if (owner.isPresent()) {
            throw new UsageException("table " + t + " is already in sync " + owner.get() + "; a table belongs to one sync");
        }
    }

    private static void insertTables(DSLContext tx, String sync, List<TableSettings> tables) {
        for (TableSettings t : tables) {
            tx.insertInto(SYNC_TABLE).set(SYNC_TABLE.SYNC_NAME, sync).set(SYNC_TABLE.TABLE_SCHEMA, t.table().schema())
                    .set(SYNC_TABLE.TABLE_NAME, t.table().name()).set(SYNC_TABLE.STRATEGY, t.strategy())
                    .set(SYNC_TABLE.PAUSED, t.paused()).set(SYNC_TABLE.PAUSE_REASON, t.pauseReason()).execute();
        }
    }

    public Optional<String> syncOf(TableRef t) {
        return dsl.select(SYNC_TABLE.SYNC_NAME).from(SYNC_TABLE)
                .where(SYNC_TABLE.TABLE_SCHEMA.eq(t.schema()), SYNC_TABLE.TABLE_NAME.eq(t.name())).fetchOptional(SYNC_TABLE.SYNC_NAME);
    }

    public List<SyncSettings> syncs() {
        return onOneConnection(one -> one.selectFrom(SYNC).orderBy(SYNC.NAME).fetch().map(r -> settings(one, r)));
    }

    public SyncSettings sync(String name) {
        return findSync(name).orElseThrow(() -> new UsageException("unknown sync '" + name + "': see 'ibex sync list'"));
    }

    /** The sync's settings as they are now, read on one connection (a round reads them before it starts). */
    public Optional<SyncSettings> findSync(String name) {
        return onOneConnection(one -> one.selectFrom(SYNC).where(SYNC.NAME.eq(name)).fetchOptional().map(r -> settings(one, r)));
    }

    /** A sync's settings and the epoch of its owner, as a round reads them before it starts. */
    public record Owned(SyncSettings settings, long epoch) {
    }

    /** The sync's settings and its owner's epoch, read on one connection. */
    public Optional<Owned> findOwned(String name) {
        return onOneConnection(one -> one.selectFrom(SYNC).where(SYNC.NAME.eq(name)).fetchOptional()
                .map(r -> new Owned(settings(one, r), r.getEpoch())));
    }

    /** Runs {@code work} with this store's settings on one pooled connection: one borrow (and validation) instead of one per query. */
    private <T> T onOneConnection(java.util.function.Function<DSLContext, T> work) {
        return dsl.connectionResult(c -> work.apply(dsl.configuration().derive(new DefaultConnectionProvider(c)).dsl()));
    }

    private static SyncSettings settings(DSLContext dsl, SyncRecord r) {
        var members = dsl.selectFrom(SYNC_NODE).where(SYNC_NODE.SYNC_NAME.eq(r.getName())).orderBy(SYNC_NODE.ORDINAL).fetch();
        List<NodeId> nodes = members.map(n -> new NodeId(n.getNodeName(), n.getOrdinal()));
        java.util.Map<String, String> resync = new java.util.LinkedHashMap<>();
        members.stream().filter(n -> n.getResyncNeededSince() != null)
                .forEach(n -> resync.put(n.getNodeName(), "since " + n.getResyncNeededSince() + ": " + n.getResyncReason()));
        List<TableSettings> tables = dsl.selectFrom(SYNC_TABLE).where(SYNC_TABLE.SYNC_NAME.eq(r.getName()))
                .orderBy(SYNC_TABLE.TABLE_SCHEMA, SYNC_TABLE.TABLE_NAME)
                .fetch(t -> new TableSettings(new TableRef(t.getTableSchema(), t.getTableName()), t.getStrategy(),
                        t.getPaused(), t.getPauseReason()));
        List<String> priority = r.getPriority() == null ? List.of() : Arrays.asList(r.getPriority().split(","));
        return new SyncSettings(r.getName(), nodes, tables, r.getStrategy(), priority,
                Duration.ofMillis(r.getIntervalMs()), r.getPaused(), Duration.ofMillis(r.getJournalRetentionMs()),
                Duration.ofMillis(r.getMaxClockSkewMs()), Duration.ofMillis(r.getPurgeIntervalMs()),
                Duration.ofMillis(r.getNodeRetentionMs()), resync);
    }

    /**
     * Marks a node of a sync as needing a resync (rounds leave it out from now on), unless it is
     * marked already. Returns true if this call marked it.
     */
    public boolean markResyncNeeded(String sync, String node, String reason) {
        return markResyncNeeded(dsl, sync, node, reason);
    }

    /** The same, by the sync's owner at {@code fence}: in a transaction that checks it. */
    public boolean markResyncNeeded(Fence fence, String node, String reason) {
        return dsl.transactionResult(cfg -> markResyncNeeded(fenced(cfg, fence), fence.sync(), node, reason));
    }

    private static boolean markResyncNeeded(DSLContext dsl, String sync, String node, String reason) {
        return dsl.update(SYNC_NODE).set(SYNC_NODE.RESYNC_NEEDED_SINCE, java.time.OffsetDateTime.now(java.time.ZoneOffset.UTC))
                .set(SYNC_NODE.RESYNC_REASON, reason)
                .where(SYNC_NODE.SYNC_NAME.eq(sync), SYNC_NODE.NODE_NAME.eq(node), SYNC_NODE.RESYNC_NEEDED_SINCE.isNull()).execute() == 1;
    }

    /** Replaces the reason a node of a sync needs a resync (it must be marked). */
    public void setResyncReason(String sync, String node, String reason) {
        dsl.update(SYNC_NODE).set(SYNC_NODE.RESYNC_REASON, reason)
                .where(SYNC_NODE.SYNC_NAME.eq(sync), SYNC_NODE.NODE_NAME.eq(node), SYNC_NODE.RESYNC_NEEDED_SINCE.isNotNull()).execute();
    }

    /**
     * Takes a node of a sync back into its rounds after a resync, which reached it just now: its node
     * retention counts from now, so that a first round that happens not to reach it does not mark it
     * again on the strength of when it went away.
     */
    public void clearResyncNeeded(String sync, String node) {
        dsl.update(SYNC_NODE).setNull(SYNC_NODE.RESYNC_NEEDED_SINCE).setNull(SYNC_NODE.RESYNC_REASON)
                .set(SYNC_NODE.LAST_REACHED_AT, java.time.OffsetDateTime.now(java.time.ZoneOffset.UTC))
                .where(SYNC_NODE.SYNC_NAME.eq(sync), SYNC_NODE.NODE_NAME.eq(node)).execute();
    }

    /**
     * Stores changed settings of an existing sync: strategy, priority, interval, journal retention,
     * skew bound, purge interval, node retention and each table's strategy. Nodes, tables and pause states are changed elsewhere.
     */
    public void updateSync(SyncSettings s) {
        sync(s.name());
        dsl.transaction(cfg -> {
            DSLContext tx = DSL.using(cfg);
            tx.update(SYNC).set(SYNC.STRATEGY, s.strategy())
                    .set(SYNC.PRIORITY, s.priority().isEmpty() ? null : String.join(",", s.priority()))
                    .set(SYNC.INTERVAL_MS, s.interval().toMillis())
                    .set(SYNC.JOURNAL_RETENTION_MS, s.journalRetention().toMillis())
                    .set(SYNC.MAX_CLOCK_SKEW_MS, s.maxClockSkew().toMillis())
                    .set(SYNC.PURGE_INTERVAL_MS, s.purgeInterval().toMillis())
                    .set(SYNC.NODE_RETENTION_MS, s.nodeRetention().toMillis()).where(SYNC.NAME.eq(s.name())).execute();
            for (TableSettings t : s.tables()) {
                tx.update(SYNC_TABLE).set(SYNC_TABLE.STRATEGY, t.strategy()).where(SYNC_TABLE.SYNC_NAME.eq(s.name()),
                        SYNC_TABLE.TABLE_SCHEMA.eq(t.table().schema()), SYNC_TABLE.TABLE_NAME.eq(t.table().name())).execute();
            }
        });
    }

    public void removeSync(String name) {
        sync(name);
        dsl.deleteFrom(SYNC).where(SYNC.NAME.eq(name)).execute();
    }

    public void setSyncPaused(String name, boolean paused) {
        sync(name);
        dsl.update(SYNC).set(SYNC.PAUSED, paused).where(SYNC.NAME.eq(name)).execute();
    }

    public void addTables(String sync, List<TableSettings> tables) {
        sync(sync);
        tables.forEach(t -> requireFree(t.table()));
        dsl.transaction(cfg -> insertTables(DSL.using(cfg), sync, tables));
    }

    public void removeTables(String sync, List<TableRef> tables) {
        requireMembers(sync, tables);
        dsl.transaction(cfg -> tables.forEach(t -> DSL.using(cfg).deleteFrom(SYNC_TABLE)
                .where(SYNC_TABLE.TABLE_SCHEMA.eq(t.schema()), SYNC_TABLE.TABLE_NAME.eq(t.name())).execute()));
    }

    public void setTablesPaused(String sync, List<TableRef> tables, boolean paused, String reason) {
        requireMembers(sync, tables);
        dsl.transaction(cfg -> tables.forEach(t -> DSL.using(cfg).update(SYNC_TABLE).set(SYNC_TABLE.PAUSED, paused)
                .set(SYNC_TABLE.PAUSE_REASON, paused ? reason : null)
                .where(SYNC_TABLE.TABLE_SCHEMA.eq(t.schema()), SYNC_TABLE.TABLE_NAME.eq(t.name())).execute()));
    }

    /** Pauses a table of the sync owned at {@code fence} (a round that cannot reconcile it), in a transaction that checks the fence. */
    public void pauseTable(Fence fence, TableRef table, String reason) {
        requireMembers(fence.sync(), List.of(table));
        dsl.transaction(cfg -> fenced(cfg, fence).update(SYNC_TABLE).set(SYNC_TABLE.PAUSED, true).set(SYNC_TABLE.PAUSE_REASON, reason)
                .where(SYNC_TABLE.TABLE_SCHEMA.eq(table.schema()), SYNC_TABLE.TABLE_NAME.eq(table.name())).execute());
    }

    /** The transaction's context, after checking {@code fence} in it. */
    public static DSLContext fenced(org.jooq.Configuration cfg, Fence fence) {
        DSLContext tx = DSL.using(cfg);
        tx.execute("select ibex.fence(?, ?)", fence.sync(), fence.epoch());
        return tx;
    }

    public void requireMembers(String sync, List<TableRef> tables) {
        sync(sync);
        for (TableRef t : tables) {
            String owner = syncOf(t).orElseThrow(() -> new UsageException("table " + t + " is not in sync " + sync));
            if (!owner.equals(sync)) {
                throw new UsageException("table " + t + " is in sync " + owner + ", not in " + sync);
            }
        }
    }

    /** A held round lock of a sync; closing it releases it. */
    public interface RoundLock extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Takes the sync's round lock (a PostgreSQL advisory lock on the control database) if nobody
     * holds it: an engine holds it for each round, so two engines never run rounds of one sync at
     * once, and 'ibex node resync' takes it to wait for the round in progress. Empty when held.
     */
    public Optional<RoundLock> tryRoundLock(String sync) {
        return roundLock(sync, "select pg_try_advisory_lock(hashtext('ibex round'), hashtext(?))", null, null);
    }

    /**
     * The same for the sync's owner at {@code fence}: while it holds the lock, its session is named
     * after the fence, so that a later owner can end it ({@link Fence#endStale}) if this engine
     * stops responding while it holds the lock.
     */
    public Optional<RoundLock> tryRoundLock(Fence fence) {
        return roundLock(fence.sync(), "select l and pg_catalog.set_config('application_name', ?, false) is not null from "
                + "(select pg_try_advisory_lock(hashtext('ibex round'), hashtext(?)) l) x", null, fence.sessionName());
    }

    /** Takes the sync's round lock, waiting at most {@code wait} for the round in progress; fails after that. */
    public RoundLock roundLock(String sync, Duration wait) {
        return roundLock(sync, "select count(*) = 1 from (select pg_advisory_lock(hashtext('ibex round'), hashtext(?))) x", wait, null)
                .orElseThrow(() -> new IbexException("sync " + sync + ": could not take its round lock"));
    }

    private Optional<RoundLock> roundLock(String sync, String sql, Duration wait, String sessionName) {
        java.sql.Connection c = null;
        try {
            c = locks.getConnection();
            if (wait != null) {
                try (var st = c.createStatement()) {
                    st.execute("set lock_timeout = " + wait.toMillis());
                }
            }
            boolean taken;
            try (var ps = c.prepareStatement(sql)) {
                if (sessionName != null) {
                    ps.setString(1, sessionName);
                    ps.setString(2, sync);
                } else {
                    ps.setString(1, sync);
                }
                try (var rs = ps.executeQuery()) {
                    rs.next();
                    taken = rs.getBoolean(1);
                }
            }
            if (wait != null) {
                try (var st = c.createStatement()) {
                    st.execute("reset lock_timeout");
                }
            }
            if (!taken) {
                c.close();
                return Optional.empty();
            }
            java.sql.Connection held = c;
            return Optional.of(() -> {
                try (held; var ps = held.prepareStatement("select pg_advisory_unlock(hashtext('ibex round'), hashtext(?)), "
                        + "pg_catalog.set_config('application_name', 'ibex', false)")) {
                    ps.setString(1, sync);
                    ps.execute();
                } catch (java.sql.SQLException e) {
                    // closing the session releases the lock anyway
                }
            });
        } catch (java.sql.SQLException e) {
            closeQuietly(c);
            if (SqlErrors.isLockNotAvailable(e)) {
                throw new IbexException("sync " + sync + ": a round is still running after " + DurationText.format(wait)
                        + "; try again when it has finished", e);
            }
            throw failure("taking the round lock of sync " + sync, e);
        }
    }

    private static void closeQuietly(java.sql.Connection c) {
        if (c != null) {
            try {
                c.close();
            } catch (java.sql.SQLException ignored) {
                // already broken
            }
        }
    }

    /** Asks a running engine to start a round of {@code sync} now (NOTIFY on the control database). */
    public void kick(String sync) {
        sync(sync);
        dsl.execute("select pg_notify('ibex_kick', ?)", sync);
    }

    @Override
    public void close() {
        locks.close();
        pool.close();
    }

    /** Wraps an unexpected control-database failure with what was being done. */
    public static IbexException failure(String doing, Exception e) {
        return new IbexException("control database: " + doing + ": " + e.getMessage(), e);
    }
}
