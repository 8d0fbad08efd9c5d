package dev.ibex.cli.bench;

import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.round.RoundReport;
import dev.ibex.engine.runtime.RoundService;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * S1 and S2, with rounds run directly (no engine, no wake-ups), so that they time the round alone.
 * S1: a sync of {@value #TABLES} tables of 10 rows each on two nodes with nothing to do; the figure
 * is the median duration of {@value #IDLE_ROUNDS} rounds. S2: one UPDATE of every row of a table on
 * the first of 3, then of 5 masters, each master its own database (on the bench's servers, in
 * turn), until a round decides nothing; the figure is rows per second reaching all the others.
 */
final class ScaleWorkload implements AutoCloseable {
    static final int TABLES = 1000;
    static final int IDLE_ROUNDS = 20;

    private final List<AutoCloseable> closing = new ArrayList<>();
    private RoundService idle;
    private final RoundService[] masters = new RoundService[6];

    /** S1 setup: the idle sync's tables, capture and control database. */
    void prepareIdle(BenchCluster cluster, PrintWriter out) throws SQLException {
        Progress.line(out, "S1: creating " + TABLES + " tables on two nodes and installing capture");
        List<String> nodes = List.of("a", "b");
        List<TableSettings> tables = new ArrayList<>();
        for (String n : nodes) {
            cluster.createDatabase(n, "scale");
            try (Connection c = DriverManager.getConnection(cluster.url(n, "scale")); Statement s = c.createStatement()) {
                StringBuilder ddl = new StringBuilder();
                for (int i = 0; i < TABLES; i++) {
                    String t = String.format("t%04d", i);
                    ddl.append("create table ").append(t).append(" (id integer primary key, v text);")
                            .append("insert into ").append(t).append(" select g, 'seed' from generate_series(1, 10) g;");
                }
                s.execute(ddl.toString());
            }
        }
        for (int i = 0; i < TABLES; i++) {
            tables.add(new TableSettings(new TableRef("public", String.format("t%04d", i)), null, false, null));
        }
        idle = service(cluster, "ibex_control_s1", nodes, "scale", "idle", tables);
        idle.run("idle");
    }

    /** S1: median milliseconds of a round of the idle sync. */
    double idleRound() {
        List<Double> ms = new ArrayList<>();
        for (int i = 0; i < IDLE_ROUNDS; i++) {
            RoundReport r = idle.run("idle");
            ms.add((double) r.duration().toMillis());
        }
        return BenchResult.median(ms);
    }

    /** S2: rows/s of an update of {@code rows} rows on the first of {@code count} masters reaching all the others. */
    double masters(BenchCluster cluster, PrintWriter out, int count, int run, long rows) throws SQLException {
        String db = "masters" + count;
        List<String> servers = cluster.nodes();
        if (masters[count] == null) {
            Progress.line(out, "S2: seeding " + rows + " rows on " + count + " masters");
            List<String> nodes = new ArrayList<>();
            for (int i = 1; i <= count; i++) {
                String server = servers.get((i - 1) % servers.size());
                cluster.createDatabase(server, db + "_" + i);
                try (Connection c = DriverManager.getConnection(cluster.url(server, db + "_" + i)); Statement s = c.createStatement()) {
                    s.execute("create table bulk (id bigint primary key, balance bigint not null, note text)");
                    s.execute("insert into bulk select g, 0, 'seed' from generate_series(1, " + rows + ") g");
                }
                nodes.add(server + ":" + db + "_" + i);
            }
            masters[count] = service(cluster, "ibex_control_s2_" + count, nodes, null, db,
                    List.of(new TableSettings(new TableRef("public", "bulk"), null, false, null)));
        }
        String first = servers.get(0);
        try (Connection c = DriverManager.getConnection(cluster.url(first, db + "_1")); Statement s = c.createStatement()) {
            s.execute("update bulk set balance = balance + 1, note = 's2-" + run + "'");
        }
        long t0 = System.nanoTime();
        for (int i = 0; i < 10_000; i++) {
            RoundReport r = masters[count].run(db);
            if (r.keysDecided() == 0 && r.errors().isEmpty()) {
                break;
            }
        }
        return rows / ((System.nanoTime() - t0) / 1e9);
    }

    /**
     * A control database on node a with a sync over {@code nodes}: names of nodes, or SERVER:DATABASE
     * for a database on one of the bench's servers; {@code database} is the database of plain names.
     */
    private RoundService service(BenchCluster cluster, String controlDb, List<String> nodes, String database, String sync,
                                 List<TableSettings> tables) {
        Map<String, String> urls = new LinkedHashMap<>();
        for (String n : nodes) {
            String server = n.contains(":") ? n.substring(0, n.indexOf(':')) : n;
            String db = n.contains(":") ? n.substring(n.indexOf(':') + 1) : database;
            urls.put(n.contains(":") ? "m" + (urls.size() + 1) : n, cluster.url(server, db));
        }
        BenchCluster.Control control;
        try {
            // no ledger purge during the measured rounds: S1 and S2 time replication rounds alone
            control = cluster.installControl(controlDb, urls, ids -> new SyncSettings(sync, ids, tables, "latest", List.of(),
                    Duration.ofHours(1), false).withLedgerRetention(Duration.ofDays(1), SyncSettings.DEFAULT_NODE_RETENTION));
        } catch (SQLException e) {
            throw new IllegalStateException("creating " + controlDb + ": " + e.getMessage(), e);
        }
        closing.add(control);
        return new RoundService(control.store(), control.directory(), Clock.systemUTC());
    }

    @Override
    public void close() {
        BenchCluster.closeInReverse(closing);
    }
}
