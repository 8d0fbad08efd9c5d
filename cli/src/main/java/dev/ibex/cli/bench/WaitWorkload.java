package dev.ibex.cli.bench;

import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.runtime.Engine;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.LockSupport;

/**
 * W5: what {@code ibex.wait_replicated} costs an application. A sync of one table over 2, 3 and 5
 * masters (each its own database on the bench's servers, in turn), its engine running and idle;
 * 10 times per {@code --seconds} (100 by default), one single-row UPDATE committed on the first
 * master, then {@code select ibex.wait_replicated(k, '5s')} on the same connection,
 * {@value #PAUSE_MILLIS} ms apart. The figure
 * is the time from sending the UPDATE to the wait's return, median and p99; and how many waits
 * returned fewer than k nodes (timeouts). Each sync's engine runs only while its own samples are
 * taken.
 */
final class WaitWorkload implements AutoCloseable {
    static final int SAMPLES_PER_SECOND = 10;
    static final long PAUSE_MILLIS = 100;
    static final List<Integer> MASTERS = List.of(2, 3, 5);
    private static final TableRef TABLE = new TableRef("public", "waited");

    /** One measurement: write + wait in milliseconds, median and p99, and how many waits fell short. */
    record Run(double medianMillis, double p99Millis, int shortWaits) {
    }

    private final Map<Integer, BenchCluster.Control> controls = new LinkedHashMap<>();
    private final List<AutoCloseable> closing = new ArrayList<>();

    /** Creates the databases, tables and syncs of every master count. */
    void prepare(BenchCluster cluster, PrintWriter out) throws SQLException {
        List<String> servers = cluster.nodes();
        for (int count : MASTERS) {
            Progress.line(out, "W5: a sync over " + count + " masters");
            Map<String, String> urls = new LinkedHashMap<>();
            for (int i = 1; i <= count; i++) {
                String server = servers.get((i - 1) % servers.size());
                String db = "w5_" + count + "_" + i;
                cluster.createDatabase(server, db);
                try (Connection c = DriverManager.getConnection(cluster.url(server, db)); Statement s = c.createStatement()) {
                    s.execute("create table waited (id integer primary key, v text not null)");
                    s.execute("insert into waited select g, 'seed' from generate_series(1, 100) g");
                }
                urls.put("m" + i, cluster.url(server, db));
            }
            BenchCluster.Control control = cluster.installControl("ibex_control_w5_" + count, urls, ids -> new SyncSettings(sync(count),
                    ids, List.of(new TableSettings(TABLE, null, false, null)), "latest", List.of(), BenchCluster.INTERVAL, false));
            closing.add(control);
            controls.put(count, control);
        }
    }

    /** Write + wait on the first of {@code count} masters, waiting for {@code minNodes} others. */
    Run measure(BenchCluster cluster, int count, int minNodes, int run, int seconds) throws SQLException {
        String url = cluster.url(cluster.nodes().get(0), "w5_" + count + "_1");
        int samples = samples(seconds);
        double[] millis = new double[samples];
        int fellShort = 0;
        try (Engine engine = Engine.start(controls.get(count).store()); Connection c = DriverManager.getConnection(url);
             PreparedStatement write = c.prepareStatement("update waited set v = ? where id = ?");
             PreparedStatement wait = c.prepareStatement("select ibex.wait_replicated(?, '5s')")) {
            warmUp(write, wait, minNodes);
            for (int i = 0; i < samples; i++) {
                LockSupport.parkNanos(Duration.ofMillis(PAUSE_MILLIS).toNanos());
                long t0 = System.nanoTime();
                write.setString(1, "w5 run " + run + " #" + i);
                write.setInt(2, 1 + i % 100);
                write.executeUpdate();
                wait.setInt(1, minNodes);
                try (ResultSet rs = wait.executeQuery()) {
                    rs.next();
                    if (rs.getInt(1) < minNodes) {
                        fellShort++;
                    }
                }
                millis[i] = (System.nanoTime() - t0) / 1e6;
            }
        }
        Arrays.sort(millis);
        return new Run(BenchResult.median(Arrays.stream(millis).boxed().toList()),
                millis[Math.min(samples - 1, (int) Math.ceil(samples * 0.99) - 1)], fellShort);
    }

    /** Samples per measurement for the bench's {@code --seconds}. */
    static int samples(int seconds) {
        return SAMPLES_PER_SECOND * Math.max(1, seconds);
    }

    /** The engine's first rounds take the sync and open connections: not part of the figure. */
    private static void warmUp(PreparedStatement write, PreparedStatement wait, int minNodes) throws SQLException {
        for (int i = 0; i < 5; i++) {
            write.setString(1, "w5 warm-up #" + i);
            write.setInt(2, 1);
            write.executeUpdate();
            wait.setInt(1, minNodes);
            wait.executeQuery().close();
        }
    }

    static String sync(int count) {
        return "wait" + count;
    }

    @Override
    public void close() {
        BenchCluster.closeInReverse(closing);
    }
}
