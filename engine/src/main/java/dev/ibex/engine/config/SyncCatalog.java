package dev.ibex.engine.config;

import static dev.ibex.schema.control.jooq.Tables.SYNC;
import static dev.ibex.schema.control.jooq.Tables.SYNC_NODE;
import static dev.ibex.schema.control.jooq.Tables.SYNC_TABLE;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import dev.ibex.conflict.NodeId;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.db.NodeSettings;
import dev.ibex.engine.fence.Fence;
import dev.ibex.schema.control.jooq.tables.records.SyncRecord;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.jooq.DSLContext;
import org.jooq.impl.DSL;
import org.jooq.impl.DefaultConnectionProvider;

/**
 * The syncs of the control database: settings, member nodes with their ordinals, and which
 * members need a resync. Every change is one transaction, validated before anything is written.
 */
public final class SyncCatalog {
    private final DSLContext dsl;
    private final NodeCatalog nodes;
    private final TableCatalog tables;

    SyncCatalog(DSLContext dsl, NodeCatalog nodes, TableCatalog tables) {
        this.dsl = dsl;
        this.nodes = nodes;
        this.tables = tables;
    }

    /** The error for a sync name the control database does not know. */
    static UsageException unknown(String name) {
        return new UsageException("unknown sync '" + name + "': see 'ibex sync list'");
    }

    public boolean exists(String name) {
        return dsl.fetchExists(SYNC, SYNC.NAME.eq(name));
    }

    /** Stores a new sync, its node ordinals and tables in one transaction. */
    public void add(SyncSettings s) {
        if (exists(s.name())) {
            throw new UsageException("sync " + s.name() + " exists already; remove it first or pick another name");
        }
        for (NodeId n : s.nodes()) {
            nodes.get(n.name());
        }
        for (TableSettings t : s.tables()) {
            tables.requireFree(t.table());
        }
        dsl.transaction(cfg -> {
            DSLContext tx = DSL.using(cfg);
            tx.insertInto(SYNC).set(SYNC.NAME, s.name()).set(SYNC.STRATEGY, s.strategy())
                    .set(SYNC.PRIORITY, s.priority().isEmpty() ? null : String.join(",", s.priority()))
                    .set(SYNC.INTERVAL_MS, s.interval().toMillis()).set(SYNC.PAUSED, s.paused())
                    .set(SYNC.JOURNAL_RETENTION_MS, s.journalRetention().toMillis())
                    .set(SYNC.MAX_CLOCK_SKEW_MS, s.maxClockSkew().toMillis())
                    .set(SYNC.PURGE_INTERVAL_MS, s.purgeInterval().toMillis())
                    .set(SYNC.NODE_RETENTION_MS, s.nodeRetention().toMillis())
                    .set(SYNC.NEXT_ORDINAL, s.nodes().stream().mapToInt(NodeId::ordinal).max().orElse(0) + 1).execute();
            for (NodeId n : s.nodes()) {
                tx.insertInto(SYNC_NODE).set(SYNC_NODE.SYNC_NAME, s.name()).set(SYNC_NODE.NODE_NAME, n.name())
                        .set(SYNC_NODE.ORDINAL, n.ordinal()).execute();
            }
            TableCatalog.insertTables(tx, s.name(), s.tables());
        });
    }

    public List<SyncSettings> all() {
        return onOneConnection(one -> one.selectFrom(SYNC).orderBy(SYNC.NAME).fetch().map(r -> settings(one, r)));
    }

    public SyncSettings get(String name) {
        return find(name).orElseThrow(() -> unknown(name));
    }

    /** The sync's settings as they are now, read on one connection (a round reads them before it starts). */
    public Optional<SyncSettings> find(String name) {
        return onOneConnection(one -> one.selectFrom(SYNC).where(SYNC.NAME.eq(name)).fetchOptional().map(r -> settings(one, r)));
    }

    /**
     * A sync's settings and the epoch of its owner, as a round reads them before it starts, with its
     * members' connection settings and the values of the {@code alongside} fields the caller asked
     * for, in their order.
     */
    public record Owned(SyncSettings settings, long epoch, Map<String, NodeSettings> nodes, List<Object> alongside) {
    }

    /**
     * The statement {@link #findOwned} runs, rendered once: the sync's row, its members with their
     * connection settings and its tables (each as a JSON array), and {@code alongside}, boolean
     * fields correlated to {@code ibex.sync.name} (a round asks whether anything waits for it in other
     * tables of the control database, so that it reads those only when something does).
     */
    public record OwnedQuery(String sql, int alongside) {
    }

    /** The statement of {@link #findOwned} with the {@code alongside} fields, rendered once for every round to reuse. */
    public OwnedQuery ownedQuery(List<org.jooq.Field<Boolean>> alongside) {
        StringBuilder more = new StringBuilder();
        for (int i = 0; i < alongside.size(); i++) {
            more.append(",\n       ").append(dsl.renderInlined(alongside.get(i))).append(" as alongside_").append(i);
        }
        return new OwnedQuery(OWNED.replace("{alongside}", more), alongside.size());
    }

    /** The sync is not aliased: the {@code alongside} fields name it {@code "ibex"."sync"}. */
    private static final String OWNED = """
            select sync.name, sync.strategy, sync.priority, sync.interval_ms, sync.paused, sync.journal_retention_ms,
                   sync.max_clock_skew_ms, sync.purge_interval_ms, sync.node_retention_ms, sync.epoch,
                   (select pg_catalog.json_agg(pg_catalog.json_build_object('name', m.node_name, 'ordinal', m.ordinal,
                                                   'since', m.resync_needed_since, 'reason', m.resync_reason,
                                                   'url', n.url, 'passwordEnv', n.password_env) order by m.ordinal)
                      from ibex.sync_node m left join ibex.node n on n.name = m.node_name
                     where m.sync_name = sync.name) as members,
                   (select pg_catalog.json_agg(pg_catalog.json_build_object('schema', t.table_schema, 'name', t.table_name,
                                                   'strategy', t.strategy, 'paused', t.paused, 'reason', t.pause_reason)
                                               order by t.table_schema, t.table_name)
                      from ibex.sync_table t where t.sync_name = sync.name) as tables{alongside}
              from ibex.sync where sync.name = ?
            """;

    private record Member(String name, int ordinal, OffsetDateTime since, String reason, String url, String passwordEnv) {
    }

    private record Table(String schema, String name, String strategy, boolean paused, String reason) {
    }

    private static final ObjectMapper JSON = new ObjectMapper().registerModule(new JavaTimeModule())
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    /**
     * The sync's settings, its owner's epoch, its members' connection settings and the values of the
     * query's {@code alongside} fields, in one statement, in plain JDBC: a round runs it first, and
     * PgJDBC keeps it prepared on each connection of the pool.
     */
    public Optional<Owned> findOwned(OwnedQuery q, String name) {
        return ControlStore.plain(dsl, "reading sync " + name, c -> {
            try (PreparedStatement ps = c.prepareStatement(q.sql())) {
                ps.setString(1, name);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? Optional.of(owned(rs, q.alongside())) : Optional.empty();
                }
            }
        });
    }

    private static Owned owned(ResultSet rs, int alongside) throws SQLException {
        SyncRecord sync = new SyncRecord();
        sync.setName(rs.getString("name"));
        sync.setStrategy(rs.getString("strategy"));
        sync.setPriority(rs.getString("priority"));
        sync.setIntervalMs(rs.getLong("interval_ms"));
        sync.setPaused(rs.getBoolean("paused"));
        sync.setJournalRetentionMs(rs.getLong("journal_retention_ms"));
        sync.setMaxClockSkewMs(rs.getLong("max_clock_skew_ms"));
        sync.setPurgeIntervalMs(rs.getLong("purge_interval_ms"));
        sync.setNodeRetentionMs(rs.getLong("node_retention_ms"));
        Map<String, NodeSettings> urls = new java.util.LinkedHashMap<>();
        List<NodeId> nodes = new java.util.ArrayList<>();
        Map<String, String> resync = new java.util.LinkedHashMap<>();
        for (Member m : json(rs.getString("members"), new TypeReference<List<Member>>() { })) {
            nodes.add(new NodeId(m.name(), m.ordinal()));
            if (m.since() != null) {
                resync.put(m.name(), "since " + m.since().withOffsetSameInstant(ZoneOffset.UTC) + ": " + m.reason());
            }
            if (m.url() != null) {
                urls.put(m.name(), new NodeSettings(m.name(), m.url(), m.passwordEnv()));
            }
        }
        List<TableSettings> ts = json(rs.getString("tables"), new TypeReference<List<Table>>() { }).stream()
                .map(t -> new TableSettings(new TableRef(t.schema(), t.name()), t.strategy(), t.paused(), t.reason())).toList();
        List<Object> more = new java.util.ArrayList<>();
        for (int i = 0; i < alongside; i++) {
            more.add(rs.getBoolean("alongside_" + i));
        }
        return new Owned(settings(sync, nodes, ts, resync), rs.getLong("epoch"), urls, more);
    }

    /** A JSON array the statement built; none (null) is empty. */
    private static <T> List<T> json(String text, TypeReference<List<T>> type) throws SQLException {
        if (text == null) {
            return List.of();
        }
        try {
            return JSON.readValue(text, type);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new SQLException("the sync's members or tables as the control database sent them: " + e.getOriginalMessage(), e);
        }
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
        return settings(r, nodes, tables, resync);
    }

    private static SyncSettings settings(SyncRecord r, List<NodeId> nodes, List<TableSettings> tables, Map<String, String> resync) {
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
        return dsl.transactionResult(cfg -> markResyncNeeded(ControlStore.fenced(cfg, fence), fence.sync(), node, reason));
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
     * Makes {@code node} a member of sync {@code sync} in one transaction, with an ordinal the sync
     * never handed out before (its counter advances; {@link #removeNode} never lowers it), marked as
     * needing a resync for {@code reason} so that rounds leave it out until its copy is done.
     * Returns its id. The caller has checked that the sync exists and the node is not a member.
     */
    public NodeId addNode(String sync, String node, String reason) {
        return addNode(sync, node, reason, 1);
    }

    /**
     * As {@link #addNode(String, String, String)}, with an ordinal of at least {@code atLeast}: one
     * past the widest version vector the members' ledgers hold, which also covers an ordinal handed
     * out before the sync counted them (control migration V5 could only start from its members).
     */
    public NodeId addNode(String sync, String node, String reason, int atLeast) {
        return dsl.transactionResult(cfg -> {
            DSLContext tx = DSL.using(cfg);
            SyncRecord r = tx.selectFrom(SYNC).where(SYNC.NAME.eq(sync)).forUpdate().fetchOptional().orElseThrow(() -> unknown(sync));
            Integer highest = tx.select(DSL.max(SYNC_NODE.ORDINAL)).from(SYNC_NODE).where(SYNC_NODE.SYNC_NAME.eq(sync)).fetchOne().value1();
            int ordinal = Math.max(Math.max(r.getNextOrdinal(), atLeast), highest == null ? 1 : highest + 1);
            tx.insertInto(SYNC_NODE).set(SYNC_NODE.SYNC_NAME, sync).set(SYNC_NODE.NODE_NAME, node).set(SYNC_NODE.ORDINAL, ordinal)
                    .set(SYNC_NODE.RESYNC_NEEDED_SINCE, java.time.OffsetDateTime.now(java.time.ZoneOffset.UTC))
                    .set(SYNC_NODE.RESYNC_REASON, reason).execute();
            tx.update(SYNC).set(SYNC.NEXT_ORDINAL, ordinal + 1).where(SYNC.NAME.eq(sync)).execute();
            return new NodeId(node, ordinal);
        });
    }

    /** The next ordinal sync {@code sync} would hand out (never one it handed out before). */
    public int nextOrdinal(String sync) {
        return dsl.select(SYNC.NEXT_ORDINAL).from(SYNC).where(SYNC.NAME.eq(sync)).fetchOptional(SYNC.NEXT_ORDINAL)
                .orElseThrow(() -> unknown(sync));
    }

    /**
     * Adds {@code node} to the nodes that still have to delete each unfinished ledger purge of the
     * sync: a node about to be copied from a member that may not have deleted a batch yet must
     * delete it too (only entries that still have the batch's version are deleted, so a node that
     * never got them loses nothing).
     */
    public void joinPendingPurges(String sync, String node) {
        dsl.execute("update ibex.ledger_purge set nodes_left = (nodes_left::jsonb || jsonb_build_array(?::text))::text "
                + "where sync_name = ? and not jsonb_exists(nodes_left::jsonb, ?)", node, sync, node);
    }

    /**
     * Stores changed settings of an existing sync: strategy, priority, interval, journal retention,
     * skew bound, purge interval, node retention and each table's strategy. Nodes, tables and pause states are changed elsewhere.
     */
    public void update(SyncSettings s) {
        get(s.name());
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

    /**
     * Takes {@code node} out of sync {@code changed.name()} in one transaction: its membership row
     * (the other members keep their ordinals; the removed one stays unused), the priority order
     * without it ({@code changed.priority()}), and its name in the purges in progress, which no
     * longer wait for it (a purge left with no node is done).
     */
    public void removeNode(SyncSettings changed, String node) {
        dsl.transaction(cfg -> {
            DSLContext tx = DSL.using(cfg);
            tx.deleteFrom(SYNC_NODE).where(SYNC_NODE.SYNC_NAME.eq(changed.name()), SYNC_NODE.NODE_NAME.eq(node)).execute();
            tx.update(SYNC).set(SYNC.PRIORITY, changed.priority().isEmpty() ? null : String.join(",", changed.priority()))
                    .where(SYNC.NAME.eq(changed.name())).execute();
            tx.execute("update ibex.ledger_purge set nodes_left = (select coalesce(json_agg(e.x), '[]'::json)::text "
                    + "from json_array_elements_text(nodes_left::json) e(x) where e.x <> ?) where sync_name = ?", node, changed.name());
            tx.execute("delete from ibex.ledger_purge where sync_name = ? and nodes_left::jsonb = '[]'::jsonb", changed.name());
        });
    }

    public void remove(String name) {
        get(name);
        dsl.deleteFrom(SYNC).where(SYNC.NAME.eq(name)).execute();
    }

    public void setPaused(String name, boolean paused) {
        get(name);
        dsl.update(SYNC).set(SYNC.PAUSED, paused).where(SYNC.NAME.eq(name)).execute();
    }
}
