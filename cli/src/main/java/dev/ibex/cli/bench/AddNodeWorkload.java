package dev.ibex.cli.bench;

import dev.ibex.engine.IbexException;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.copy.TableChecksum;
import dev.ibex.engine.db.NodeSettings;
import dev.ibex.engine.install.NodeAdder;
import dev.ibex.engine.runtime.Engine;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
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
import java.util.concurrent.locks.LockSupport;

/**
 * N1 (opt-in): adding a node to a sync while writes continue. Per run, a sync of one table of
 * {@code rows} rows over two masters (m1 on server a, m2 on server b, each a database of its own)
 * with its engine running; {@value #WRITERS_PER_NODE} writers per master make single-row updates
 * of random rows at {@value #RATE_PER_WRITER}/s each, while {@code ibex sync add-node} adds m3 (an
 * empty copy of the table on server b) from m1. The writers stop when the command returns. Figures:
 * seconds from the command's start until the three tables have equal checksums (polled every
 * {@code POLL}), the command's own seconds, and the copy's alone (snapshot to commit).
 */
final class AddNodeWorkload {
    static final long DEFAULT_ROWS = 1_000_000;
    static final int WRITERS_PER_NODE = 2;
    static final int RATE_PER_WRITER = 100;
    static final Duration POLL = Duration.ofMillis(100);
    static final Duration LIMIT = Duration.ofMinutes(30);
    private static final TableRef TABLE = new TableRef("public", "n1_accounts");

    /** One measurement: seconds until equal, of the command, and of the copy alone; updates made meanwhile. */
    record Run(double equalSeconds, double commandSeconds, double copySeconds, long updates) {
    }

    private AddNodeWorkload() {
    }

    static Run run(BenchCluster cluster, PrintWriter out, int run, long rows) throws Exception {
        Map<String, String> urls = new LinkedHashMap<>();
        List<String> servers = List.of("a", "b", "b");
        for (int i = 1; i <= 3; i++) {
            String db = "n1_" + run + "_" + i;
            cluster.createDatabase(servers.get(i - 1), db);
            urls.put("m" + i, cluster.url(servers.get(i - 1), db));
        }
        Progress.line(out, "N1 run " + run + ": seeding " + rows + " rows on m1 and m2");
        for (Map.Entry<String, String> e : urls.entrySet()) {
            seed(e.getValue(), e.getKey().equals("m3") ? 0 : rows);
        }
        String sync = "n1_" + run;
        Map<String, String> members = new LinkedHashMap<>(urls);
        members.remove("m3");
        try (BenchCluster.Control control = cluster.installControl("ibex_control_n1_" + run, members, ids -> new SyncSettings(sync, ids,
                List.of(new TableSettings(TABLE, null, false, null)), "latest", List.of(), BenchCluster.INTERVAL, false));
             Engine engine = Engine.start(control.store())) {
            control.store().nodes().add(new NodeSettings("m3", urls.get("m3"), null));
            AtomicBoolean stop = new AtomicBoolean();
            ExecutorService pool = Executors.newFixedThreadPool(2 * WRITERS_PER_NODE);
            List<Future<Long>> writers = new ArrayList<>();
            long updates = 0;
            long started;
            NodeAdder.Added added;
            try {
                for (String m : List.of("m1", "m2")) {
                    for (int w = 0; w < WRITERS_PER_NODE; w++) {
                        writers.add(pool.submit(() -> write(urls.get(m), rows, stop)));
                    }
                }
                Progress.line(out, "N1 run " + run + ": adding m3 from m1 while m1 and m2 take "
                        + 2 * WRITERS_PER_NODE * RATE_PER_WRITER + " updates/s");
                started = System.nanoTime();
                added = new NodeAdder(control.store(), control.directory()).add(sync, "m3", "m1", (t, f, to, d, total) -> { });
            } finally {
                stop.set(true);
                for (Future<Long> f : writers) {
                    updates += f.get();
                }
                pool.shutdownNow();
            }
            double equal = awaitEqual(urls, started);
            return new Run(equal, added.took().toMillis() / 1000.0, added.copying().toMillis() / 1000.0, updates);
        }
    }

    private static void seed(String url, long rows) throws SQLException {
        try (Connection c = DriverManager.getConnection(url); Statement s = c.createStatement()) {
            s.execute("create table n1_accounts (id bigint primary key, balance bigint not null, note text,"
                    + " updated_at timestamptz not null default now())");
            if (rows > 0) {
                s.execute("insert into n1_accounts select g, 0, 'seed', timestamptz '2020-01-01 00:00:00+00'"
                        + " from generate_series(1, " + rows + ") g");
                s.execute("vacuum analyze n1_accounts");
            }
        }
    }

    /** Single-row updates of random rows at {@link #RATE_PER_WRITER}/s until stopped; returns how many. */
    private static long write(String url, long rows, AtomicBoolean stop) throws SQLException {
        long n = 0;
        long gap = Duration.ofSeconds(1).toNanos() / RATE_PER_WRITER;
        long next = System.nanoTime();
        try (Connection c = DriverManager.getConnection(url); PreparedStatement ps = c.prepareStatement(
                "update n1_accounts set balance = balance + 1, updated_at = now() where id = ?")) {
            while (!stop.get()) {
                ps.setLong(1, ThreadLocalRandom.current().nextLong(1, rows + 1));
                ps.executeUpdate();
                n++;
                next += gap;
                LockSupport.parkNanos(next - System.nanoTime());
            }
        }
        return n;
    }

    /** Seconds from {@code started} until m1, m2 and m3 have equal checksums of the table. */
    private static double awaitEqual(Map<String, String> urls, long started) throws SQLException {
        long deadline = System.nanoTime() + LIMIT.toNanos();
        Map<String, Connection> conns = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, String> e : urls.entrySet()) {
                conns.put(e.getKey(), DriverManager.getConnection(e.getValue()));
            }
            while (System.nanoTime() < deadline) {
                List<TableChecksum> sums = new ArrayList<>();
                conns.forEach((node, c) -> sums.add(TableChecksum.of(c, node, TABLE)));
                if (sums.stream().distinct().count() == 1) {
                    return (System.nanoTime() - started) / 1e9;
                }
                LockSupport.parkNanos(POLL.toNanos());
            }
        } finally {
            for (Connection c : conns.values()) {
                c.close();
            }
        }
        throw new IbexException("N1: m3 did not become equal to m1 and m2 within " + LIMIT.toMinutes() + " min");
    }
}
