package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.fail;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.db.NodeSettings;
import dev.ibex.engine.install.SyncInstaller;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.copy.TableChecksum;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.journal.ConflictEntry;
import dev.ibex.engine.journal.ConflictJournal;
import dev.ibex.engine.round.RoundReport;
import dev.ibex.engine.runtime.RoundService;
import dev.ibex.engine.runtime.Engine;
import dev.ibex.testkit.Await;
import dev.ibex.testkit.PgServer;
import dev.ibex.testkit.Sql;
import dev.ibex.testkit.TcpProxy;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ExtensionContext.Namespace;

/**
 * Replication nodes for one integration-test class, each a database on its own real PostgreSQL
 * server, plus a control database, registered as a JUnit extension:
 * {@code @RegisterExtension static final Cluster CLUSTER = Cluster.of("a", "b", "c");}.
 *
 * <p>The servers are started once per test run and shared by every class (closed when the run
 * ends); each class gets fresh databases on them, dropped after the class. Nodes get ordinals in
 * the order given. {@link #converge(String)} runs rounds until one decides nothing and reports no
 * error, then asserts that every table of the sync has the same checksum on every node.
 */
public final class Cluster implements BeforeAllCallback, AfterAllCallback {
    /** Rounds {@link #converge} runs at most before it fails the test. */
    static final int MAX_ROUNDS = 20;
    private static final Namespace NAMESPACE = Namespace.create(Cluster.class);
    private static final AtomicInteger CLUSTERS = new AtomicInteger();

    private final List<String> names;
    private final boolean proxied;
    private final List<Integer> majors;
    private final Map<String, TcpProxy> proxies = new LinkedHashMap<>();
    private final Map<String, Connection> connections = new LinkedHashMap<>();
    private List<PgServer> servers;
    private String prefix;
    private ControlStore control;
    private NodeDirectory directory;
    private RoundService rounds;

    private Cluster(List<String> names, boolean proxied, List<Integer> majors) {
        this.names = List.copyOf(names);
        this.proxied = proxied;
        this.majors = List.copyOf(majors);
    }

    public static Cluster of(String... nodes) {
        return new Cluster(Arrays.asList(nodes), false, List.of());
    }

    /**
     * The same cluster, but the engine reaches each node through its own {@link TcpProxy} (see
     * {@link #proxy}), so that a test can cut a node off from the engine while the test itself
     * still writes to it directly.
     */
    public Cluster withProxies() {
        return new Cluster(names, true, majors);
    }

    /**
     * The same cluster on servers of its own, one per node, running the given PostgreSQL majors in
     * node order ({@link PgServer#start(String, int)}); they are closed after the class.
     */
    public Cluster withMajors(Integer... perNode) {
        if (perNode.length != names.size()) {
            throw new IllegalArgumentException(perNode.length + " majors for the " + names.size() + " nodes " + names);
        }
        return new Cluster(names, proxied, Arrays.asList(perNode));
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        SharedServers shared = context.getRoot().getStore(NAMESPACE)
                .getOrComputeIfAbsent(SharedServers.class, k -> new SharedServers(), SharedServers.class);
        prefix = "it" + CLUSTERS.incrementAndGet();
        servers = majors.isEmpty() ? shared.first(names.size()) : startOwnServers();
        for (String node : names) {
            server(node).createDatabase(database(node));
        }
        servers.get(0).createDatabase(controlDatabase());
        control = ControlStore.open(servers.get(0).jdbcUrl(controlDatabase()), null);
        control.migrate();
        for (String node : names) {
            String url = url(node);
            if (proxied) {
                TcpProxy p = TcpProxy.start("127.0.0.1", server(node).port());
                proxies.put(node, p);
                url = p.rewrite(url);
            }
            control.nodes().add(new NodeSettings(node, url, null));
        }
        directory = new NodeDirectory(control.nodes()::get);
        rounds = new RoundService(control, directory, Clock.systemUTC());
    }

    @Override
    public void afterAll(ExtensionContext context) {
        connections.values().forEach(Cluster::closeQuietly);
        connections.clear();
        if (directory != null) {
            directory.close();
        }
        if (control != null) {
            control.close();
        }
        proxies.values().forEach(TcpProxy::close);
        for (String node : names) {
            dropDatabase(server(node), database(node));
        }
        dropDatabase(servers.get(0), controlDatabase());
        if (!majors.isEmpty()) {
            servers.forEach(PgServer::close);
        }
    }

    private List<PgServer> startOwnServers() {
        List<PgServer> own = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            own.add(PgServer.start(prefix + "-" + names.get(i) + "-pg" + majors.get(i), majors.get(i)));
        }
        return own;
    }

    public List<String> nodes() {
        return names;
    }

    /** The proxy between the engine and {@code node}; only for clusters made {@link #withProxies()}. */
    public TcpProxy proxy(String node) {
        TcpProxy p = proxies.get(node);
        if (p == null) {
            throw new IllegalStateException("cluster has no proxies; build it with Cluster.of(...).withProxies()");
        }
        return p;
    }

    public PgServer server(String node) {
        return servers.get(index(node));
    }

    public String database(String node) {
        return prefix + "_" + node;
    }

    /** The node's direct JDBC URL (the engine's goes through the proxy when the cluster has proxies). */
    public String url(String node) {
        return server(node).jdbcUrl(database(node));
    }

    /** A new connection to the node for the caller to close (for transactions and other threads). */
    public Connection connect(String node) {
        return Sql.connect(url(node));
    }

    /** Runs statements on one node in autocommit mode, on the cluster's own connection to it. */
    public void exec(String node, String... sql) {
        for (String statement : sql) {
            Sql.exec(connection(node), statement);
        }
    }

    /** Runs one statement with positional arguments on one node, in autocommit mode. */
    public void execWith(String node, String sql, Object... args) {
        Sql.exec(connection(node), sql, args);
    }

    /** Runs the same statements on every node (DDL, identical initial rows). */
    public void execAll(String... sql) {
        names.forEach(n -> exec(n, sql));
    }

    public List<List<String>> rows(String node, String sql, Object... args) {
        return Sql.rows(connection(node), sql, args);
    }

    public long count(String node, String sql, Object... args) {
        return Sql.count(connection(node), sql, args);
    }

    public ControlStore control() {
        return control;
    }

    /** The JDBC URL of the control database, for an engine run in its own process. */
    public String controlUrl() {
        return servers.get(0).jdbcUrl(controlDatabase());
    }

    public RoundService rounds() {
        return rounds;
    }

    /** Another round service on this cluster's nodes, whose rounds spend at most {@code purgeBudget} purging (after one chunk). */
    public RoundService rounds(Duration purgeBudget) {
        return new RoundService(control, directory, Clock.systemUTC(), purgeBudget, dev.ibex.engine.round.FoldListener.NONE);
    }

    /**
     * Installs a sync over {@code nodes} with the {@code latest} strategy and a 1 s interval. Every
     * sync a test adds this way purges its ledgers in every round, so that every test also checks
     * that purging loses nothing.
     */
    public void addSync(String sync, List<String> nodes, TableRef... tables) {
        addSync(sync, nodes, "latest", List.of(), tables);
    }

    /** Installs a sync over every node of the cluster with a strategy (and priority order), 1 s interval. */
    public void addSync(String sync, String strategy, List<String> priority, TableRef... tables) {
        addSync(sync, names, strategy, priority, tables);
    }

    private void addSync(String sync, List<String> nodes, String strategy, List<String> priority, TableRef... tables) {
        List<NodeId> ids = nodes.stream().map(n -> new NodeId(n, index(n) + 1)).toList();
        List<TableSettings> settings = Arrays.stream(tables).map(t -> new TableSettings(t, null, false, null)).toList();
        installer().addSync(new SyncSettings(sync, ids, settings, strategy, priority, Duration.ofSeconds(1), false,
                        SyncSettings.DEFAULT_JOURNAL_RETENTION, SyncSettings.DEFAULT_MAX_CLOCK_SKEW, Duration.ZERO,
                        SyncSettings.DEFAULT_NODE_RETENTION, Map.of()), null, (table, from, to, done, total) -> { });
    }

    /** Resyncs nodes of this cluster as 'ibex node resync' does. */
    public dev.ibex.engine.copy.NodeResync resync() {
        return new dev.ibex.engine.copy.NodeResync(control, directory);
    }

    public SyncInstaller installer() {
        return new SyncInstaller(control, directory);
    }

    /** Interleaves key sequences as 'ibex sequences interleave' does. */
    public dev.ibex.engine.install.SequenceInterleaver interleaver() {
        return new dev.ibex.engine.install.SequenceInterleaver(control, directory);
    }

    /** What {@code ibex status} would show for a sync. */
    public dev.ibex.engine.status.SyncStatus status(String sync) {
        return new dev.ibex.engine.status.StatusReader(control, directory, Clock.systemUTC()).read(sync);
    }

    /** Installs a sync over every node of the cluster. */
    public void addSync(String sync, TableRef... tables) {
        addSync(sync, names, tables);
    }

    /** Runs one round of {@code sync} synchronously. */
    public RoundReport round(String sync) {
        return rounds.run(sync);
    }

    /**
     * Runs rounds until one decides no key and reports no error (at most {@link #MAX_ROUNDS}), then
     * asserts that every table of the sync is identical on every node of the sync. Returns the
     * reports of the rounds run, the quiet last one included. The engine must not be running.
     */
    public List<RoundReport> converge(String sync) {
        List<RoundReport> reports = settle(sync);
        try {
            assertIdentical(sync);
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "rounds run: " + reports.stream().map(Cluster::describe).toList(), e);
        }
        return reports;
    }

    /**
     * Runs rounds until one decides no key and reports no error, and returns their reports; fails
     * the test if that takes more than {@link #MAX_ROUNDS} rounds. Asserts nothing about the rows.
     */
    public List<RoundReport> settle(String sync) {
        List<RoundReport> reports = new ArrayList<>();
        for (int i = 0; i < MAX_ROUNDS; i++) {
            RoundReport r = rounds.run(sync);
            reports.add(r);
            if (r.errors().isEmpty() && r.keysDecided() == 0) {
                return reports;
            }
        }
        return fail("sync " + sync + " did not settle in " + MAX_ROUNDS + " rounds; last rounds: "
                + reports.subList(reports.size() - 3, reports.size()).stream().map(Cluster::describe).toList());
    }

    /**
     * Waits until every table of the sync is identical on every node (a running engine's work);
     * on timeout, fails with the keys that differ and the engine's last rounds.
     */
    public void awaitIdentical(String sync, Duration timeout) {
        awaitIdentical(sync, timeout, () -> { });
    }

    /** As {@link #awaitIdentical(String, Duration)}, running {@code beforeEachLook} before each comparison. */
    public void awaitIdentical(String sync, Duration timeout, Runnable beforeEachLook) {
        try {
            Await.until("every table of sync " + sync + " identical on every node", timeout, () -> {
                beforeEachLook.run();
                assertIdentical(sync);
                return true;
            });
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + ": " + (e.getCause() == null ? "" : e.getCause().getMessage())
                    + "\nlast rounds (id, started, finished, outcome, keys decided, rows applied, error): "
                    + control.dsl().fetch("select id, started_at, finished_at, outcome, rows_read, rows_applied, left(error, 400) "
                            + "from ibex.round where sync_name = ? order by id desc limit 8", sync).formatCSV(false), e);
        }
    }

    /** Asserts that every table of the sync has the same row count and content hash on every node. */
    public void assertIdentical(String sync) {
        SyncSettings settings = control.syncs().get(sync);
        for (TableSettings t : settings.tables()) {
            Map<String, TableChecksum> sums = checksums(settings.nodes().stream().map(NodeId::name).toList(), t.table());
            if (sums.values().stream().distinct().count() != 1) {
                fail("table " + t.table() + " differs between nodes: " + sums + "\n" + differences(settings, t.table()));
            }
        }
    }

    /**
     * For a failed comparison: up to five keys whose rows differ between nodes, each with every
     * node's row and ledger entry, then every node's watermarks for the table's ledger.
     */
    private String differences(SyncSettings settings, TableRef table) {
        List<String> nodes = settings.nodes().stream().map(NodeId::name).toList();
        String rel = dev.ibex.engine.db.Idents.name(table.schema(), table.name());
        StringBuilder out = new StringBuilder();
        try {
            String keyCols = dev.ibex.engine.db.Idents.list(null,
                    dev.ibex.engine.capture.TableInspector.inspect(connection(nodes.get(0)), table).orElseThrow().key());
            Map<String, Map<String, String>> byNode = new LinkedHashMap<>();
            for (String n : nodes) {
                Map<String, String> m = new java.util.TreeMap<>();
                for (List<String> r : rows(n, "select row(" + keyCols + ")::text, t::text from " + rel + " t limit 100000")) {
                    m.put(r.get(0), r.get(1));
                }
                byNode.put(n, m);
            }
            java.util.Set<String> keys = new java.util.TreeSet<>();
            byNode.values().forEach(m -> keys.addAll(m.keySet()));
            String ledger = ledger(table);
            keys.stream().filter(k -> byNode.values().stream().map(m -> String.valueOf(m.get(k))).distinct().count() > 1).limit(5)
                    .forEach(k -> {
                        out.append("key ").append(k).append(":\n");
                        for (String n : nodes) {
                            out.append("  ").append(n).append(": row ").append(byNode.get(n).get(k)).append("; ledger (txid, vv, origin, ts, local changes) ")
                                    .append(rows(n, "select ibex_txid::text, ibex_vv::text, ibex_origin::text, ibex_ts::text, ibex_local::text from "
                                            + ledger + " l where row(" + keyCols + ")::text = ?", k)).append('\n');
                        }
                    });
            for (String n : nodes) {
                out.append("watermarks on ").append(n).append(" (source, boundary, updated): ").append(rows(n,
                        "select source_node, boundary::text, updated_at::text from ibex.watermark where ledger_name = ? order by 1",
                        table.ledgerName())).append("; its txid now ").append(rows(n, "select pg_current_snapshot()::text")).append('\n');
            }
        } catch (RuntimeException e) {
            out.append("(could not read the differences: ").append(e.getMessage()).append(')');
        }
        return out.toString();
    }

    public Map<String, TableChecksum> checksums(List<String> nodes, TableRef table) {
        Map<String, TableChecksum> sums = new LinkedHashMap<>();
        for (String node : nodes) {
            try (Connection c = directory.pool(node).getConnection()) {
                sums.put(node, TableChecksum.of(c, node, table));
            } catch (SQLException e) {
                throw new Sql.UncheckedSqlException("checksum of " + table + " on node " + node, e);
            }
        }
        return sums;
    }

    /** The conflicts journaled for one table of a sync, newest first. */
    public List<ConflictEntry> conflicts(String sync, TableRef table) {
        return new ConflictJournal(control.dsl()).list(sync, table, null, 10_000);
    }

    /** Starts the engine over this cluster's control database; the caller closes it. */
    public Engine startEngine() {
        return Engine.start(control);
    }

    /** The log entries of a table on a node that no fold has taken yet; {@code %s} is the ledger name. */
    private static final String UNFOLDED = "(select e.* from (select *, xmin from ibex.\"%1$s_log0\" union all select *, xmin "
            + "from ibex.\"%1$s_log1\") e, (select pg_catalog.age(pg_catalog.xid(pg_snapshot_xmax(fold_snapshot))) as ax, "
            + "array(select pg_catalog.xid(x) from pg_snapshot_xip(fold_snapshot) x) as xip from ibex.capture "
            + "where ledger_name = '%1$s') p where pg_catalog.age(e.xmin) <= p.ax or e.xmin = any(p.xip))";

    /**
     * The stamp of the newest change to the row of {@code table} that {@code where} selects on {@code
     * node}, in microseconds since the epoch on that node's clock: the newest change its capture logged
     * that no round has folded yet, else the stamp its ledger holds.
     */
    public long changeStamp(String node, TableRef table, String where, Object... args) {
        String sql = "select coalesce((select (extract(epoch from e.ibex_ts) * 1000000)::bigint from " + UNFOLDED.formatted(table.ledgerName())
                + " e where " + where + " order by pg_catalog.age(e.xmin) limit 1), (select (extract(epoch from l.ibex_ts) * 1000000)::bigint "
                + "from " + ledger(table) + " l where " + where + "))";
        Object[] both = new Object[args.length * 2];
        System.arraycopy(args, 0, both, 0, args.length);
        System.arraycopy(args, 0, both, args.length, args.length);
        return Long.parseLong(rows(node, sql, both).get(0).get(0));
    }

    /**
     * Sets the stamp of every change to the rows {@code where} selects that {@code node}'s capture
     * logged and no round has folded yet: plays a node whose clock said {@code timestampSql} (an SQL
     * expression, which may use the entry's own {@code ibex_ts}).
     */
    public void setChangeStamp(String node, TableRef table, String where, String timestampSql) {
        for (String log : List.of("_log0", "_log1")) {
            exec(node, "update ibex.\"" + table.ledgerName() + log + "\" l set ibex_ts = " + timestampSql + " from (select "
                    + "pg_catalog.age(pg_catalog.xid(pg_snapshot_xmax(fold_snapshot))) as ax, array(select pg_catalog.xid(x) "
                    + "from pg_snapshot_xip(fold_snapshot) x) as xip from ibex.capture where ledger_name = '" + table.ledgerName()
                    + "') p where " + where + " and (pg_catalog.age(l.xmin) <= p.ax or l.xmin = any(p.xip))");
        }
    }

    /** The ledger of a replicated table, schema-qualified and quoted, for tests that inspect it. */
    public static String ledger(TableRef table) {
        return "ibex.\"" + table.ledgerName() + "\"";
    }

    static String describe(RoundReport r) {
        return "round(decided=" + r.keysDecided() + ", conflicts=" + r.conflicts() + ", applied=" + r.rowsApplied()
                + ", nodes=" + r.nodes().values().stream().map(n -> n.node() + ":" + n.applied() + "/" + n.skipped()
                + (n.error() == null ? "" : " " + n.error())).collect(Collectors.joining(", "))
                + ", errors=" + r.errors() + ")";
    }

    /** The cluster's own connection to the node, opened again if the node restarted since. */
    private Connection connection(String node) {
        Connection c = connections.get(node);
        try {
            if (c != null && !c.isClosed() && c.isValid(5)) {
                return c;
            }
        } catch (SQLException e) {
            // broken: open a new one
        }
        if (c != null) {
            closeQuietly(c);
        }
        c = Sql.connect(url(node));
        connections.put(node, c);
        return c;
    }

    private int index(String node) {
        int i = names.indexOf(node);
        if (i < 0) {
            throw new IllegalArgumentException("no node " + node + " in cluster " + names);
        }
        return i;
    }

    private String controlDatabase() {
        return prefix + "_control";
    }

    private static void dropDatabase(PgServer server, String database) {
        server.execute("postgres", "drop database if exists \"" + database + "\" with (force)");
    }

    private static void closeQuietly(Connection c) {
        try {
            c.close();
        } catch (SQLException ignored) {
            // the test is over; the database is dropped next
        }
    }

    /**
     * The PostgreSQL servers of a test run, started on first demand and closed by JUnit when the run
     * ends (they live in the root context's store).
     */
    private static final class SharedServers implements AutoCloseable {
        private final List<PgServer> servers = new ArrayList<>();

        /** The first {@code count} servers, started if new, restarted if a test left one stopped. */
        synchronized List<PgServer> first(int count) {
            while (servers.size() < count) {
                servers.add(PgServer.start("node" + (servers.size() + 1)));
            }
            for (PgServer s : servers.subList(0, count)) {
                if (!s.isRunning()) {
                    s.restart();
                }
            }
            return List.copyOf(servers.subList(0, count));
        }

        @Override
        public synchronized void close() {
            servers.forEach(PgServer::close);
            servers.clear();
        }
    }
}
