package dev.ibex.cli.bench;

import dev.ibex.engine.IbexException;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.install.SchemaChanger;
import dev.ibex.engine.runtime.Engine;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * D1 schema change (opt-in): sync {@code schema} of {@code schema_accounts} over a and b (its own
 * control database {@code ibex_control_d1} and engine), a writer on each node updating random rows
 * in autocommit. Per run, three changes through {@code ibex schema apply}'s code: add a column with
 * a default, rename it, retype it int to bigint. For each: how long the table was paused (pause to
 * resume, as the command reports it), and how long after the command returned, with the writers
 * stopped at that moment, until both nodes hold equal tables (the backlog of the pause replicated).
 */
final class SchemaChangeWorkload implements AutoCloseable {
    static final TableRef TABLE = new TableRef("public", "schema_accounts");
    static final String SYNC = "schema";
    static final Duration LIMIT = Duration.ofMinutes(5);
    static final Duration POLL = Duration.ofMillis(50);
    static final Duration LOCK_TIMEOUT = Duration.ofSeconds(5);

    /** One change: its label, milliseconds paused, milliseconds from the command's return until the nodes were equal. */
    record Change(String label, double pausedMillis, double equalAfterMillis) {
    }

    private final BenchCluster cluster;
    private final BenchCluster.Control control;
    private final Engine engine;

    private SchemaChangeWorkload(BenchCluster cluster, BenchCluster.Control control, Engine engine) {
        this.cluster = cluster;
        this.control = control;
        this.engine = engine;
    }

    static SchemaChangeWorkload prepare(BenchCluster cluster, PrintWriter out, long rows) throws SQLException {
        Progress.line(out, "D1: seeding " + rows + " rows of " + TABLE + " on a and b");
        List<String> nodes = cluster.nodes().subList(0, 2);
        Map<String, String> urls = new LinkedHashMap<>();
        for (String n : nodes) {
            try (Connection c = cluster.connect(n); Statement s = c.createStatement()) {
                s.execute("create table schema_accounts (id bigint primary key, balance bigint not null, note text, "
                        + "updated_at timestamptz not null default now())");
                s.execute("insert into schema_accounts select g, 0, 'seed', timestamptz '2020-01-01 00:00:00+00' "
                        + "from generate_series(1, " + rows + ") g");
                s.execute("vacuum analyze schema_accounts");
            }
            urls.put(n, cluster.url(n, "postgres"));
        }
        BenchCluster.Control control = cluster.installControl("ibex_control_d1", urls, ids -> new SyncSettings(SYNC, ids,
                List.of(new TableSettings(TABLE, null, false, null)), "latest", List.of(), BenchCluster.INTERVAL, false));
        try {
            return new SchemaChangeWorkload(cluster, control, Engine.start(control.store()));
        } catch (RuntimeException e) {
            control.close();
            throw e;
        }
    }

    /** The three changes of run {@code run}, each under writers on a and b. */
    List<Change> run(int run, long rows) throws Exception {
        String column = "d1_" + run;
        List<Change> out = new ArrayList<>();
        out.add(change("add column", "alter table schema_accounts add column " + column + " int not null default 0", rows));
        out.add(change("rename column", "alter table schema_accounts rename column " + column + " to " + column + "_r", rows));
        out.add(change("retype column", "alter table schema_accounts alter column " + column + "_r type bigint", rows));
        return out;
    }

    private Change change(String label, String ddl, long rows) throws Exception {
        List<String> nodes = cluster.nodes().subList(0, 2);
        AtomicBoolean stop = new AtomicBoolean();
        ExecutorService pool = Executors.newFixedThreadPool(nodes.size());
        SchemaChanger.SchemaChangeReport report;
        long returned;
        try {
            List<Future<Long>> writers = new ArrayList<>();
            for (String n : nodes) {
                writers.add(pool.submit(() -> write(n, rows, stop)));
            }
            report = new SchemaChanger(control.store(), control.directory(), Clock.systemUTC()).apply(SYNC, ddl, LOCK_TIMEOUT, line -> { });
            returned = System.nanoTime();
            stop.set(true);
            for (Future<Long> w : writers) {
                w.get();
            }
        } finally {
            stop.set(true);
            pool.shutdownNow();
        }
        if (!cluster.awaitEqual(TABLE, nodes, LIMIT, POLL)) {
            throw new IbexException("D1 " + label + ": nodes " + nodes + " did not converge within " + LIMIT.toMinutes() + " min");
        }
        return new Change(label, report.pausedMillis(), (System.nanoTime() - returned) / 1e6);
    }

    private long write(String node, long rows, AtomicBoolean stop) throws SQLException {
        long n = 0;
        try (Connection c = cluster.connect(node); PreparedStatement ps = c.prepareStatement(
                "update schema_accounts set balance = balance + 1, note = ?, updated_at = now() where id = ?")) {
            ps.setString(1, "d1-" + node);
            while (!stop.get()) {
                ps.setLong(2, ThreadLocalRandom.current().nextLong(1, rows + 1));
                ps.executeUpdate();
                n++;
            }
        }
        return n;
    }

    @Override
    public void close() {
        try {
            engine.close();
        } finally {
            control.close();
        }
    }
}
