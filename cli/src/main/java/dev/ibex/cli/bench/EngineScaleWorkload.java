package dev.ibex.cli.bench;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.db.NodeSettings;
import dev.ibex.engine.install.SyncInstaller;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.db.NodeDirectory;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * S3 engine scale: {@value #SYNCS} syncs over nodes a and b, each of one table {@code s3_K} of
 * {@code rowsPerTable} identical rows (database {@code s3} on both servers, control database
 * {@code ibex_control_s3} on a), run by 1 standalone {@code ibex start} JVM and then by 3 in a
 * Pekko Cluster (see {@link EngineProcesses}), started afresh for each measurement and stopped
 * after it. Measuring starts once every sync has an owner among the engines just started and,
 * with 3, once each engine owns 3 to 5 syncs, and after a warm-up (the same writes once, not
 * counted: fresh JVMs compile the round's code meanwhile, and Sharding finishes spreading the
 * syncs). Then one writer per sync on a updates rows 1, 2, 3,
 * ... of its table once each, autocommit, paced so that the writers together make {@code rate}
 * updates/s for {@code seconds} (each writer offset by 1/{@value #SYNCS} of its step), stamping
 * {@code updated_at = clock_timestamp()} (during the UPDATE, before its commit) and the
 * measurement's note. One poller on b looks every {@code POLL} at the rows each writer has
 * committed and b has not shown yet (one statement for all tables); an update's lag runs from its
 * stamp on a to b's clock when the poll first saw it (both servers run on this machine, on one
 * clock), pooled over all syncs. Figures: updates/s the writers achieved (updates / first due to
 * last commit); lag median and p99; drain, the seconds from the last commit until b showed every
 * update; replicated rows/s, updates / (first due until b showed every update).
 */
final class EngineScaleWorkload implements AutoCloseable {
    static final int SYNCS = 12;
    static final int MIN_ROWS = 10_000;
    static final List<Integer> ENGINES = List.of(1, 3);
    static final Duration POLL = Duration.ofMillis(10);
    static final Duration OWNERS_LIMIT = Duration.ofMinutes(2);
    static final Duration DRAIN_LIMIT = Duration.ofMinutes(2);
    private static final String DATABASE = "s3";
    private static final String CONTROL = "ibex_control_s3";

    private final BenchCluster cluster;
    private final ControlStore control;
    private final NodeDirectory directory;
    private final int rate;
    private final int perSync;

    /** One measurement: the writers' rate, the lag pooled over all syncs, the drain and the replicated rate. */
    record Run(double updatesPerSecond, double medianMillis, double p99Millis, double drainSeconds, double replicatedPerSecond) {
    }

    private EngineScaleWorkload(BenchCluster cluster, ControlStore control, NodeDirectory directory, int rate, int seconds) {
        this.cluster = cluster;
        this.control = control;
        this.directory = directory;
        this.rate = rate;
        this.perSync = (int) Math.round((double) rate * seconds / SYNCS);
    }

    /** Rows in each table: {@value #MIN_ROWS}, or more when a writer updates more rows than that in {@code seconds}. */
    static long rowsPerTable(int rate, int seconds) {
        return Math.max(MIN_ROWS, Math.round((double) rate * seconds / SYNCS));
    }

    /** Creates and seeds the tables on a and b, the control database and the syncs; starts no engine. */
    static EngineScaleWorkload prepare(BenchCluster cluster, PrintWriter out, int rate, int seconds) throws SQLException {
        long rows = rowsPerTable(rate, seconds);
        Progress.line(out, "S3: creating " + SYNCS + " tables of " + rows + " rows on a and b and a sync for each");
        for (String n : List.of("a", "b")) {
            cluster.createDatabase(n, DATABASE);
            try (Connection c = DriverManager.getConnection(cluster.url(n, DATABASE)); Statement s = c.createStatement()) {
                for (String t : tables()) {
                    s.execute("create table " + t + " (id bigint primary key, balance bigint not null, note text,"
                            + " updated_at timestamptz not null default now())");
                    s.execute("insert into " + t + " select g, 0, 'seed', timestamptz '2020-01-01 00:00:00+00'"
                            + " from generate_series(1, " + rows + ") g");
                    s.execute("vacuum analyze " + t);
                }
            }
        }
        cluster.createDatabase("a", CONTROL);
        ControlStore control = ControlStore.open(cluster.url("a", CONTROL), null);
        NodeDirectory directory = new NodeDirectory(control.nodes()::get);
        EngineScaleWorkload w = new EngineScaleWorkload(cluster, control, directory, rate, seconds);
        try {
            control.migrate();
            List<NodeId> ids = new ArrayList<>();
            for (String n : List.of("a", "b")) {
                control.nodes().add(new NodeSettings(n, cluster.url(n, DATABASE), null));
                ids.add(new NodeId(n, ids.size() + 1));
            }
            SyncInstaller installer = new SyncInstaller(control, directory);
            for (String t : tables()) {
                List<TableSettings> table = List.of(new TableSettings(new TableRef("public", t), null, false, null));
                installer.addSync(new SyncSettings(t, ids, table, "latest", List.of(), BenchCluster.INTERVAL, false), null,
                        (tr, f, to, d, total) -> { });
            }
            return w;
        } catch (RuntimeException e) {
            w.close();
            throw e;
        }
    }

    /** One measurement with {@code engines} fresh {@code ibex start} JVMs, stopped before it returns. */
    Run run(PrintWriter out, int run, int engines) throws Exception {
        String name = "s3-run" + run + "-" + engines + "engine" + (engines == 1 ? "" : "s");
        Progress.line(out, "S3 run " + run + ": starting " + engines + " ibex start JVM(s) " + name + "-*");
        long launched = System.nanoTime();
        Run r;
        try (EngineProcesses procs = EngineProcesses.start(out, cluster.url("a", CONTROL), name, engines)) {
            Map<String, Long> owned = awaitOwners(procs);
            Progress.line(out, String.format(Locale.ROOT, "S3 run %d: every sync owned %.1f s after the first launch (%s); writing"
                    + " %d updates/s for %d updates", run, (System.nanoTime() - launched) / 1e9, owned, rate, perSync * SYNCS));
            // the same writes once before measuring: fresh JVMs compile the round's code and Sharding settles meanwhile
            measure(name + "-warm-up", procs);
            Instant from = Instant.now();
            r = measure(name, procs);
            Progress.line(out, "S3 run " + run + ", " + engines + " engine(s), while writing and draining: "
                    + RoundSummaryReader.between(control.dataSource(), from, Instant.now()));
        }
        Progress.line(out, String.format(Locale.ROOT, "S3 run %d, %d engine(s): %.1f s from the first launch until every engine"
                + " stopped", run, engines, (System.nanoTime() - launched) / 1e9));
        return r;
    }

    /** Waits until every sync is owned by one of the engines and, with several, spread evenly give or take one. */
    private Map<String, Long> awaitOwners(EngineProcesses procs) throws SQLException {
        List<String> names = procs.names();
        long low = SYNCS / names.size() - (names.size() == 1 ? 0 : 1);
        long high = (SYNCS + names.size() - 1) / names.size() + (names.size() == 1 ? 0 : 1);
        long deadline = System.nanoTime() + OWNERS_LIMIT.toNanos();
        while (true) {
            procs.requireAlive();
            Map<String, String> owners = owners();
            // owners are null while a sync has none; List.copyOf's contains(null) throws
            boolean ours = owners.values().stream().allMatch(o -> o != null && names.contains(o));
            Map<String, Long> per = owners.values().stream().filter(o -> o != null && names.contains(o))
                    .collect(Collectors.groupingBy(o -> o, TreeMap::new, Collectors.counting()));
            if (ours && per.size() == names.size()
                    && per.values().stream().allMatch(n -> n >= low && n <= high)) {
                return per;
            }
            if (System.nanoTime() > deadline) {
                throw new IbexException("S3: the syncs were not all owned by " + names + ", " + low + " to " + high + " each, within "
                        + OWNERS_LIMIT.toSeconds() + " s; owners " + owners + "\n" + procs.tails(30));
            }
            LockSupport.parkNanos(Duration.ofMillis(200).toNanos());
        }
    }

    /** Each sync's owner engine as the control database records it, null when it has none. */
    private Map<String, String> owners() throws SQLException {
        Map<String, String> out = new TreeMap<>();
        try (Connection c = control.dataSource().getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("select name, owner_engine from ibex.sync")) {
            while (rs.next()) {
                out.put(rs.getString(1), rs.getString(2));
            }
        }
        return out;
    }

    private Run measure(String note, EngineProcesses procs) throws Exception {
        long step = Math.round(SYNCS * 1e9 / rate);
        AtomicLongArray written = new AtomicLongArray(SYNCS);
        ExecutorService pool = Executors.newFixedThreadPool(SYNCS);
        try {
            long start = System.nanoTime() + Duration.ofMillis(100).toNanos();
            List<Future<Long>> writers = new ArrayList<>();
            for (int k = 0; k < SYNCS; k++) {
                int sync = k;
                writers.add(pool.submit(() -> write(sync, note, written, start + sync * step / SYNCS, step)));
            }
            double[] lags = new double[SYNCS * perSync];
            long limit = start + step * perSync + DRAIN_LIMIT.toNanos();
            long allSeen = poll(note, written, lags, writers, procs, limit);
            long lastCommit = start;
            for (Future<Long> f : writers) {
                lastCommit = Math.max(lastCommit, f.get());
            }
            Arrays.sort(lags);
            int n = lags.length;
            double median = n % 2 == 1 ? lags[n / 2] : (lags[n / 2 - 1] + lags[n / 2]) / 2;
            return new Run(n / ((lastCommit - start) / 1e9), median, lags[Math.min(n - 1, (int) Math.ceil(n * 0.99) - 1)],
                    (allSeen - lastCommit) / 1e9, n / ((allSeen - start) / 1e9));
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * Updates rows 1..perSync of sync {@code k}'s table on a, row i due at {@code first + (i - 1) * step};
     * returns the instant the last commit returned.
     */
    private long write(int k, String note, AtomicLongArray written, long first, long step) throws SQLException {
        try (Connection a = DriverManager.getConnection(cluster.url("a", DATABASE));
             PreparedStatement ps = a.prepareStatement("update " + tables().get(k)
                     + " set balance = balance + 1, note = ?, updated_at = clock_timestamp() where id = ?")) {
            ps.setString(1, note);
            long last = first;
            for (int i = 0; i < perSync && !Thread.currentThread().isInterrupted(); i++) {
                long wait = first + i * step - System.nanoTime();
                if (wait > 0) {
                    LockSupport.parkNanos(wait);
                }
                ps.setLong(2, i + 1);
                ps.executeUpdate();
                last = System.nanoTime();
                written.set(k, i + 1);
            }
            return last;
        }
    }

    /**
     * Fills {@code lags} (sync k's row i at {@code k * perSync + i - 1}) with each update's lag in
     * ms as b first shows it, until b shows every update; returns the instant it did. Fails when
     * a writer or an engine failed, or at {@code limit}.
     */
    private long poll(String note, AtomicLongArray written, double[] lags, List<Future<Long>> writers, EngineProcesses procs,
                      long limit) throws Exception {
        long[] lowest = new long[SYNCS];
        boolean[] seen = new boolean[lags.length];
        String sql = IntStream.range(0, SYNCS).mapToObj(k -> "select " + k + ", id, extract(epoch from clock_timestamp() - updated_at)"
                + " * 1000 from " + tables().get(k) + " where note = ? and id > ? and id <= ?").collect(Collectors.joining(" union all "));
        try (Connection b = DriverManager.getConnection(cluster.url("b", DATABASE)); PreparedStatement ps = b.prepareStatement(sql)) {
            while (true) {
                for (int k = 0; k < SYNCS; k++) {
                    ps.setString(3 * k + 1, note);
                    ps.setLong(3 * k + 2, lowest[k]);
                    ps.setLong(3 * k + 3, written.get(k));
                }
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        int at = rs.getInt(1) * perSync + (int) rs.getLong(2) - 1;
                        if (!seen[at]) {
                            seen[at] = true;
                            lags[at] = rs.getDouble(3);
                        }
                    }
                }
                long now = System.nanoTime();
                boolean all = true;
                for (int k = 0; k < SYNCS; k++) {
                    while (lowest[k] < perSync && seen[k * perSync + (int) lowest[k]]) {
                        lowest[k]++;
                    }
                    all &= lowest[k] == perSync;
                }
                if (all) {
                    return now;
                }
                check(writers, procs, lowest, now > limit);
                LockSupport.parkNanos(POLL.toNanos());
            }
        }
    }

    private void check(List<Future<Long>> writers, EngineProcesses procs, long[] lowest, boolean late) throws Exception {
        for (Future<Long> f : writers) {
            if (f.isDone()) {
                f.get();
            }
        }
        procs.requireAlive();
        if (late) {
            throw new IbexException("S3: node b did not show every update within " + DRAIN_LIMIT.toSeconds() + " s of the writers'"
                    + " end; updates shown per sync (in order) " + Arrays.toString(lowest) + " of " + perSync + "; owners " + owners()
                    + "\n" + procs.tails(30));
        }
    }

    private static List<String> tables() {
        return IntStream.rangeClosed(1, SYNCS).mapToObj(k -> "s3_" + k).toList();
    }

    @Override
    public void close() {
        directory.close();
        control.close();
    }
}
