package dev.ibex.cli.bench;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.db.NodeSettings;
import dev.ibex.engine.install.SyncInstaller;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.copy.TableChecksum;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.runtime.Engine;
import dev.ibex.engine.status.StatusReader;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.locks.LockSupport;

/**
 * The bench's embedded PostgreSQL servers (a, b and, for W4, c), its tables seeded identically,
 * the syncs over them and their engines, one per sync. Everything lives in temporary directories
 * and is gone after {@link #close}. Workload connections come straight from the servers, not from
 * the engines' pools, so the bench never competes with an engine for a pooled connection.
 */
final class BenchCluster implements AutoCloseable {
    static final TableRef ACCOUNTS = new TableRef("public", "accounts");
    static final TableRef PLAIN = new TableRef("public", "plain_accounts");
    static final TableRef COPY = new TableRef("public", "b0_accounts");
    static final TableRef SETTLE = new TableRef("public", "settle_accounts");
    static final TableRef WIDE = new TableRef("public", "wide_accounts");
    static final String SYNC = "bench";
    static final String SETTLE_SYNC = "settle";
    static final Duration INTERVAL = Duration.ofSeconds(5);

    private final List<EmbeddedPostgres> servers = new ArrayList<>();
    private final Map<String, EmbeddedPostgres> byNode = new LinkedHashMap<>();
    private final List<AutoCloseable> closing = new ArrayList<>();
    private final Map<String, ControlStore> controls = new LinkedHashMap<>();
    private final Map<String, StatusReader> statuses = new LinkedHashMap<>();
    private final Map<String, Engine> engines = new LinkedHashMap<>();

    /**
     * The server settings the bench sets; everything else is the embedded default. Zonky starts
     * postgres with {@code -F} (fsync off) and {@code synchronous_commit=off} unless told
     * otherwise, so both are set either way: on, PostgreSQL's own defaults, or both off.
     */
    static Map<String, String> serverConfig(boolean fsync) {
        String v = fsync ? "on" : "off";
        return Map.of("fsync", v, "synchronous_commit", v);
    }

    /**
     * Starts the servers, seeds the tables the chosen workloads need, installs the syncs, starts
     * their engines. {@code wide_accounts} (W1 only) is a second table of sync {@code bench}.
     */
    static BenchCluster start(PrintWriter out, long rows, Set<String> workloads, boolean fsync) throws Exception {
        boolean syncAb = workloads.contains("W1") || workloads.contains("W2") || workloads.contains("W3");
        boolean wide = workloads.contains("W1");
        boolean settle = workloads.contains("W4");
        BenchCluster c = new BenchCluster();
        try {
            List<String> names = settle ? List.of("a", "b", "c") : List.of("a", "b");
            for (String n : names) {
                Progress.line(out, "starting embedded PostgreSQL for node " + n);
                EmbeddedPostgres.Builder b = EmbeddedPostgres.builder();
                serverConfig(fsync).forEach(b::setServerConfig);
                EmbeddedPostgres pg = b.start();
                c.servers.add(pg);
                c.byNode.put(n, pg);
            }
            Progress.line(out, "seeding " + rows + " rows per table");
            for (String n : names) {
                boolean ab = !n.equals("c");
                if (syncAb && ab) {
                    c.seed(n, ACCOUNTS, rows);
                }
                if (wide && ab) {
                    try (Connection conn = c.connect(n)) {
                        WideWorkload.seed(conn, rows);
                    }
                }
                if (workloads.contains("B0") && ab) {
                    c.seed(n, COPY, rows);
                }
                if (workloads.contains("W2") && n.equals("a")) {
                    c.seed(n, PLAIN, rows);
                }
                if (settle) {
                    c.seed(n, SETTLE, rows);
                }
            }
            c.install(names, syncAb, wide, settle);
            return c;
        } catch (Exception e) {
            c.close();
            throw e;
        }
    }

    /**
     * Each sync gets its own control database and engine, hence its own connection pools: the
     * engine's pools (4 connections per node) are shared by all syncs of one engine, and a long
     * W1 round of one sync would otherwise starve the other sync's rounds on the same nodes.
     */
    private void install(List<String> names, boolean syncAb, boolean wide, boolean settle) throws SQLException {
        if (syncAb) {
            List<TableRef> tables = wide ? List.of(ACCOUNTS, WIDE) : List.of(ACCOUNTS);
            installSync("ibex_control", names.subList(0, 2), SYNC, tables);
        }
        if (settle) {
            installSync("ibex_control_settle", names, SETTLE_SYNC, List.of(SETTLE));
        }
    }

    private void installSync(String database, List<String> names, String syncName, List<TableRef> tables) throws SQLException {
        Map<String, String> urls = new LinkedHashMap<>();
        names.forEach(n -> urls.put(n, url(n, "postgres")));
        Control control = installControl(database, urls, ids -> sync(syncName, ids, tables));
        closing.add(control);
        controls.put(syncName, control.store());
        statuses.put(syncName, new StatusReader(control.store(), control.directory(), Clock.systemUTC()));
        startEngine(syncName);
    }

    /** Closes what a workload opened, the last opened first; a failure to close is ignored (the bench is ending). */
    static void closeInReverse(List<AutoCloseable> closing) {
        for (int i = closing.size() - 1; i >= 0; i--) {
            try {
                closing.get(i).close();
            } catch (Exception ignored) {
                // shutting down
            }
        }
    }

    /** A control database of the bench's and the node pools over it; closing closes both. */
    record Control(ControlStore store, NodeDirectory directory) implements AutoCloseable {
        @Override
        public void close() {
            directory.close();
            store.close();
        }
    }

    /**
     * Creates control database {@code database} on node a with the nodes {@code urls} (name to JDBC
     * URL, ordinals in that order) and the sync {@code sync} builds over them; the caller closes it.
     */
    Control installControl(String database, Map<String, String> urls, java.util.function.Function<List<NodeId>, SyncSettings> sync)
            throws SQLException {
        createDatabase("a", database);
        ControlStore control = ControlStore.open(url("a", database), null);
        NodeDirectory directory = new NodeDirectory(control.nodes()::get);
        Control out = new Control(control, directory);
        try {
            control.migrate();
            List<NodeId> ids = new ArrayList<>();
            for (Map.Entry<String, String> n : urls.entrySet()) {
                control.nodes().add(new NodeSettings(n.getKey(), n.getValue(), null));
                ids.add(new NodeId(n.getKey(), ids.size() + 1));
            }
            new SyncInstaller(control, directory).addSync(sync.apply(ids), null, (t, f, to, d, total) -> { });
            return out;
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
    }

    /** Starts the engine of {@code sync} on its control database; it must not be running. */
    void startEngine(String sync) {
        if (engines.containsKey(sync)) {
            throw new IllegalStateException("sync " + sync + ": its engine is already running");
        }
        engines.put(sync, Engine.start(controls.get(sync)));
    }

    /**
     * Stops the engine of {@code sync} (a round in flight ends after the chunk it is applying);
     * capture on the nodes goes on, and a later {@link #startEngine} replicates what it logged.
     */
    void stopEngine(String sync) {
        Engine e = engines.remove(sync);
        if (e == null) {
            throw new IllegalStateException("sync " + sync + ": its engine is not running");
        }
        e.close();
    }

    private static SyncSettings sync(String name, List<NodeId> nodes, List<TableRef> tables) {
        List<TableSettings> settings = tables.stream().map(t -> new TableSettings(t, null, false, null)).toList();
        return new SyncSettings(name, nodes, settings, "latest", List.of(), INTERVAL, false);
    }

    private void seed(String node, TableRef t, long rows) throws SQLException {
        String table = t.name();
        try (Connection conn = connect(node); Statement s = conn.createStatement()) {
            s.execute("create table " + table + " (id bigint primary key, balance bigint not null, note text,"
                    + " updated_at timestamptz not null default now())");
            s.execute("insert into " + table + " select g, 0, 'seed', timestamptz '2020-01-01 00:00:00+00'"
                    + " from generate_series(1, " + rows + ") g");
            s.execute("vacuum analyze " + table);
        }
    }

    /** The JDBC URL of a database on a node's server, as the postgres user. */
    String url(String node, String database) {
        return byNode.get(node).getJdbcUrl("postgres", database);
    }

    /** Creates a database on a node's server. */
    void createDatabase(String node, String database) throws SQLException {
        try (Connection conn = connect(node); Statement s = conn.createStatement()) {
            s.execute("create database " + database);
        }
    }

    /** A new autocommit connection to a node's database, as the postgres user. */
    Connection connect(String node) throws SQLException {
        return byNode.get(node).getPostgresDatabase().getConnection();
    }

    List<String> nodes() {
        return List.copyOf(byNode.keySet());
    }

    /** Waits until {@code table} has equal checksums on {@code nodes}; false if {@code limit} passed first. */
    boolean awaitEqual(TableRef table, List<String> nodes, Duration limit, Duration poll) throws SQLException {
        long deadline = System.nanoTime() + limit.toNanos();
        List<Connection> conns = new ArrayList<>();
        try {
            for (String n : nodes) {
                conns.add(connect(n));
            }
            while (System.nanoTime() < deadline) {
                List<TableChecksum> sums = new ArrayList<>();
                for (int i = 0; i < nodes.size(); i++) {
                    sums.add(TableChecksum.of(conns.get(i), nodes.get(i), table));
                }
                if (sums.stream().distinct().count() == 1) {
                    return true;
                }
                LockSupport.parkNanos(poll.toNanos());
            }
            return false;
        } finally {
            for (Connection c : conns) {
                c.close();
            }
        }
    }

    /**
     * Waits until no change of {@code sync} is pending on any node (as {@code ibex status} counts
     * them); false if {@code limit} passed first. Equal tables are not enough: rows inserted and
     * deleted on one node leave tables equal and tombstones still to replicate.
     */
    boolean awaitIdle(String sync, Duration limit, Duration poll) {
        long deadline = System.nanoTime() + limit.toNanos();
        while (System.nanoTime() < deadline) {
            if (statuses.get(sync).read(sync).pending() == 0) {
                return true;
            }
            LockSupport.parkNanos(poll.toNanos());
        }
        return false;
    }

    /** The value of a server setting on node a, as {@code SHOW} reports it. */
    String show(String setting) throws SQLException {
        try (Connection c = connect("a"); Statement s = c.createStatement(); ResultSet rs = s.executeQuery("show " + setting)) {
            rs.next();
            return rs.getString(1);
        }
    }

    @Override
    public void close() {
        List<AutoCloseable> all = new ArrayList<>(closing);
        all.addAll(engines.values());
        for (int i = all.size() - 1; i >= 0; i--) {
            try {
                all.get(i).close();
            } catch (Exception ignored) {
                // shutting down; the servers go next
            }
        }
        for (EmbeddedPostgres pg : servers) {
            try {
                pg.close();
            } catch (IOException ignored) {
                // the servers live in temporary directories
            }
        }
    }
}
