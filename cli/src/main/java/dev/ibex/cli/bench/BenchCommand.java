package dev.ibex.cli.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.ibex.cli.Output;
import dev.ibex.engine.UsageException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code ibex bench}: starts its own embedded PostgreSQL servers and measures the chosen
 * workloads side by side, run after run, so that a noisy machine disturbs all figures of a run
 * alike. Prints a table and writes the same figures as JSON; it asserts nothing about speed.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, description = {
        "Measure Ibex on embedded PostgreSQL servers against plain PostgreSQL. The servers keep PostgreSQL's defaults"
                + " fsync=on and synchronous_commit=on; --fsync off turns both off.",
        "Workloads: B0 plain binary COPY + upsert from a to b (the baseline);",
        "W1 bulk UPDATE of every row on a until visible on b, in 1 and in 10 transactions, and of every row of a"
                + " 20-column table of about 1 kB per row (rows/s and MB/s);",
        "W2 capture overhead on a: TPS of single-row updates without capture, with capture and the engine stopped, and"
                + " with capture and the engine running; seconds of a whole-table UPDATE, an INSERT ... SELECT and a COPY"
                + " FROM STDIN of N rows, each without and with capture (engine stopped);",
        "W3 lag from a to b of updates paced at 500/s (after 2 s of them not measured), then at 1000, 2000, 4000 and 8000/s"
                + " until the lag's p99 passes 500 ms (the highest rate sustained is reported);",
        "W4 time for a, b, c to settle after concurrent conflicting writes;",
        "W5 an application's wait for other sites: on a sync of 2, 3 and 5 masters (databases on the bench's servers) with its"
                + " engine running and idle, a single-row UPDATE committed on the first master and then"
                + " ibex.wait_replicated(k, '5s'), k = 1 and k = all others, 10 times per --seconds, 100 ms apart; ms from the UPDATE to the"
                + " wait's return, median and p99, and how many waits fell short;",
        "S1 a round of a sync of 1000 idle tables; S2 rows/s of a bulk UPDATE reaching all other masters, with 3 and"
                + " with 5 masters;",
        "S3 engine scale (not in the default list; a minute or more per run at --seconds 10): 12 syncs a-b of one table each,"
                + " run by 1 standalone 'ibex start' JVM, then by 3 in a cluster, each started afresh (one JVM after the other); once every sync has an"
                + " owner (3 to 5 per engine with 3), 12 writers on a (one per sync) make --s3-rate single-row updates/s in all"
                + " for --seconds, each stamped with clock_timestamp(); lag to b (a's stamp to the poll that first sees the"
                + " row on b, every 10 ms), median and p99 over all syncs; updates/s achieved; drain (last commit on a until b"
                + " shows every update); replicated rows/s (updates / (writing + drain)); 3 engines as a ratio of 1.",
        "N1 add a node (not in the default list): a sync of one table of --rows rows (default 1000000 for N1) over 2 masters,"
                + " 4 writers making 400 single-row updates/s in all during 'sync add-node' of a third master; seconds from the"
                + " command's start until the three tables are equal, of the command, and of the copy alone.",
        "D1 schema change (not in the default list): 'ibex schema apply' on a sync a-b of --rows rows while a writer on each node"
                + " updates random rows: add a column with a default, rename it, retype it to bigint; per change the ms the table"
                + " was paused, and the ms from the command's return (writers stopped then) until a and b hold equal tables.",
        "Each figure is measured --runs times; median, min and max are shown. Needs nothing but Java."})
public final class BenchCommand implements Callable<Integer> {
    static final List<String> WORKLOADS = List.of("B0", "W1", "W2", "W3", "W4", "W5", "S1", "S2", "S3", "N1", "D1");

    @Spec
    CommandSpec spec;
    @Option(names = "--rows", defaultValue = "100000", description = "Rows in each table but S3's (default 100000).")
    long rows;
    @Option(names = "--runs", defaultValue = "3", description = "How many times each figure is measured (default 3).")
    int runs;
    @Option(names = "--seconds", defaultValue = "10", description = "How long W2, W3, W4 and S3 writers write per run (default 10; each rate of the W3 sweep half as long); W5 takes 10 samples per second of it.")
    int seconds;
    @Option(names = "--workloads", defaultValue = "B0,W1,W2,W3,W4,W5,S1,S2", split = ",",
            description = "Which workloads to run, from B0, W1, W2, W3, W4, W5, S1, S2, S3, N1, D1 (default all but S3, N1 and D1).")
    List<String> workloads;
    @Option(names = "--s3-rate", defaultValue = "1200", paramLabel = "UPDATES_PER_S",
            description = "S3: single-row updates per second of the 12 writers together (default 1200, 100 per sync).")
    int s3Rate;
    @Option(names = "--fsync", defaultValue = "on", paramLabel = "on|off",
            description = "on (default): the servers keep PostgreSQL's defaults fsync=on and synchronous_commit=on;"
                    + " off: both off.")
    String fsync;
    @Option(names = "--json-out", defaultValue = "bench-results.json", paramLabel = "FILE",
            description = "Where to write the figures as JSON (default bench-results.json).")
    Path jsonOut;

    @Override
    public Integer call() throws Exception {
        Set<String> chosen = validate();
        PrintWriter out = spec.commandLine().getOut();
        long started = System.nanoTime();
        boolean w1 = chosen.contains("W1");
        boolean w2 = chosen.contains("W2");
        boolean w3 = chosen.contains("W3");
        boolean w4 = chosen.contains("W4");
        boolean w5 = chosen.contains("W5");
        boolean b0 = chosen.contains("B0");
        boolean s1 = chosen.contains("S1");
        boolean s2 = chosen.contains("S2");
        boolean s3 = chosen.contains("S3");
        boolean d1 = chosen.contains("D1");
        try (BenchCluster cluster = BenchCluster.start(out, rows, chosen, fsync.equals("on")); ScaleWorkload scale = new ScaleWorkload();
             WaitWorkload waits = new WaitWorkload();
             EngineScaleWorkload engineScale = s3 ? EngineScaleWorkload.prepare(cluster, out, s3Rate, seconds) : null;
             SchemaChangeWorkload schema = d1 ? SchemaChangeWorkload.prepare(cluster, out, rows) : null) {
            if (s1) {
                scale.prepareIdle(cluster, out);
            }
            if (w5) {
                waits.prepare(cluster, out);
            }
            long wideBytes = w1 ? WideWorkload.bytes(cluster) : 0;
            Map<String, Object> machine = machine(cluster);
            Map<String, Object> settings = settings(cluster, chosen, wideBytes);
            Progress.line(out, "machine " + machine);
            Progress.line(out, "settings " + settings);
            Figures f = new Figures();
            for (int run = 1; run <= runs; run++) {
                if (b0) {
                    f.add(out, run, "B0 plain COPY+upsert", "rows/s", CopyBaseline.run(cluster, run, rows));
                }
                if (w1) {
                    f.add(out, run, "W1 bulk 1 tx", "rows/s", BulkWorkload.oneTransaction(cluster, run, rows));
                    f.add(out, run, "W1 bulk 10 tx", "rows/s", BulkWorkload.tenTransactions(cluster, run, rows));
                    double wide = WideWorkload.updateAll(cluster, run, rows);
                    f.add(out, run, "W1 wide 1 tx", "rows/s", rows / wide);
                    f.add(out, run, "W1 wide MB/s", "MB/s", wideBytes / 1e6 / wide);
                }
                if (w2) {
                    captureOverhead(out, cluster, f, run);
                }
                if (w3) {
                    LagWorkload.Run r = LagWorkload.run(cluster, run, rows, Duration.ofSeconds(seconds));
                    f.add(out, run, "W3 paced writes", "tx/s", r.achievedRate());
                    f.add(out, run, "W3 lag median", "ms", r.medianMillis());
                    f.add(out, run, "W3 lag p99", "ms", r.p99Millis());
                    Map<Integer, LagWorkload.Run> sweep = LagWorkload.sweep(cluster, run, rows, Duration.ofSeconds(sweepSeconds()));
                    double sustained = 0;
                    for (Map.Entry<Integer, LagWorkload.Run> e : sweep.entrySet()) {
                        f.add(out, run, "W3 lag p99 at " + e.getKey() + "/s", "ms", e.getValue().p99Millis());
                        f.add(out, run, "W3 writes at " + e.getKey() + "/s", "tx/s", e.getValue().achievedRate());
                        if (e.getValue().sustained(e.getKey())) {
                            sustained = Math.max(sustained, e.getValue().achievedRate());
                        }
                    }
                    f.add(out, run, "W3 sustained rate", "tx/s", sustained);
                }
                if (w4) {
                    SettleWorkload.Run r = SettleWorkload.run(cluster, rows, Duration.ofSeconds(seconds));
                    f.add(out, run, "W4 writes, 3 nodes", "tx/s", r.transactions() / (double) seconds);
                    f.add(out, run, "W4 settle", "s", r.settleSeconds());
                }
                if (w5) {
                    waitForOthers(out, cluster, waits, f, run);
                }
                if (s1) {
                    f.add(out, run, "S1 idle round, " + ScaleWorkload.TABLES + " tables", "ms", scale.idleRound());
                }
                if (s2) {
                    long n = Math.max(10, rows / 5);
                    f.add(out, run, "S2 bulk to all, 3 masters", "rows/s", scale.masters(cluster, out, 3, run, n));
                    f.add(out, run, "S2 bulk to all, 5 masters", "rows/s", scale.masters(cluster, out, 5, run, n));
                }
                if (s3) {
                    engineScale(out, engineScale, f, run);
                }
                if (chosen.contains("N1")) {
                    AddNodeWorkload.Run r = AddNodeWorkload.run(cluster, out, run, n1Rows());
                    f.add(out, run, "N1 add node, until equal", "s", r.equalSeconds());
                    f.add(out, run, "N1 add-node command", "s", r.commandSeconds());
                    f.add(out, run, "N1 copy alone", "s", r.copySeconds());
                }
                if (d1) {
                    for (SchemaChangeWorkload.Change c : schema.run(run, rows)) {
                        f.add(out, run, "D1 " + c.label() + " paused", "ms", c.pausedMillis());
                        f.add(out, run, "D1 " + c.label() + " equal after", "ms", c.equalAfterMillis());
                    }
                }
            }
            List<BenchResult> results = f.results();
            print(out, results);
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("machine", machine);
            doc.put("settings", settings);
            doc.put("results", results);
            doc.put("elapsedSeconds", Math.round((System.nanoTime() - started) / 1e7) / 100.0);
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(jsonOut.toFile(), doc);
            out.printf(Locale.ROOT, "bench took %.0f s; figures written to %s%n", (System.nanoTime() - started) / 1e9, jsonOut);
            out.flush();
        }
        return 0;
    }

    /**
     * W2. The engine of sync {@code bench} is stopped during every step but {@code W2 tps
     * capture+engine}, so that the other captured steps measure capture alone against the steps
     * without capture under the same conditions; it restarts and drains (b equal to a) before
     * {@code W2 tps capture+engine} and after each bulk statement's pair of steps.
     */
    private void captureOverhead(PrintWriter out, BenchCluster cluster, Figures f, int run) throws Exception {
        Duration length = Duration.ofSeconds(seconds);
        cluster.stopEngine(BenchCluster.SYNC);
        f.add(out, run, "W2 tps no capture", "tx/s", CaptureOverheadWorkload.tps(cluster, "plain_accounts", rows, length));
        f.add(out, run, "W2 tps capture, engine stopped", "tx/s", CaptureOverheadWorkload.tps(cluster, "accounts", rows, length));
        cluster.startEngine(BenchCluster.SYNC);
        CaptureOverheadWorkload.drain(cluster);
        f.add(out, run, "W2 tps capture+engine", "tx/s", CaptureOverheadWorkload.tps(cluster, "accounts", rows, length));
        CaptureOverheadWorkload.drain(cluster);
        CaptureOverheadWorkload.vacuum(cluster, "plain_accounts");
        CaptureOverheadWorkload.vacuum(cluster, "accounts");
        for (BulkStatement s : BulkStatement.values()) {
            cluster.stopEngine(BenchCluster.SYNC);
            f.add(out, run, "W2 " + s.label + " no capture", "s", s.time(cluster, "plain_accounts", run, rows));
            s.cleanUp(cluster, "plain_accounts", rows);
            f.add(out, run, "W2 " + s.label + " capture", "s", s.time(cluster, "accounts", run, rows));
            s.cleanUp(cluster, "accounts", rows);
            cluster.startEngine(BenchCluster.SYNC);
            CaptureOverheadWorkload.drain(cluster);
        }
    }

    /** W5: write + wait with 2, 3 and 5 masters, for one other master and for all. */
    private void waitForOthers(PrintWriter out, BenchCluster cluster, WaitWorkload waits, Figures f, int run) throws Exception {
        int fellShort = 0;
        for (int masters : WaitWorkload.MASTERS) {
            for (int k : masters == 2 ? List.of(1) : List.of(1, masters - 1)) {
                WaitWorkload.Run r = waits.measure(cluster, masters, k, run, seconds);
                String p = "W5 write+wait " + (k == masters - 1 && k > 1 ? "all " + k : String.valueOf(k)) + ", " + masters + " masters";
                f.add(out, run, p + " median", "ms", r.medianMillis());
                f.add(out, run, p + " p99", "ms", r.p99Millis());
                fellShort += r.shortWaits();
            }
        }
        f.add(out, run, "W5 waits that fell short", "waits", fellShort);
    }

    /** S3: one measurement with 1 engine, then one with 3. */
    private static void engineScale(PrintWriter out, EngineScaleWorkload workload, Figures f, int run) throws Exception {
        for (int engines : EngineScaleWorkload.ENGINES) {
            EngineScaleWorkload.Run r = workload.run(out, run, engines);
            String p = s3Figure(engines);
            f.add(out, run, p + " updates/s", "tx/s", r.updatesPerSecond());
            f.add(out, run, p + " lag median", "ms", r.medianMillis());
            f.add(out, run, p + " lag p99", "ms", r.p99Millis());
            f.add(out, run, p + " drain", "s", r.drainSeconds());
            f.add(out, run, p + " replicated", "rows/s", r.replicatedPerSecond());
        }
    }

    private static String s3Figure(int engines) {
        return "S3 " + EngineScaleWorkload.SYNCS + " syncs, " + engines + (engines == 1 ? " engine" : " engines");
    }

    /** N1's table size: --rows when given, else {@link AddNodeWorkload#DEFAULT_ROWS}. */
    private long n1Rows() {
        return spec.commandLine().getParseResult().hasMatchedOption("--rows") ? rows : AddNodeWorkload.DEFAULT_ROWS;
    }

    /** How long each rate of the W3 sweep runs: half of {@code --seconds}, at least 2 s. */
    private int sweepSeconds() {
        return Math.max(2, seconds / 2);
    }

    private Set<String> validate() {
        if (rows < 10 || runs < 1 || seconds < 1) {
            throw new UsageException("--rows must be at least 10, --runs and --seconds at least 1; got --rows " + rows
                    + " --runs " + runs + " --seconds " + seconds);
        }
        if (s3Rate < EngineScaleWorkload.SYNCS) {
            throw new UsageException("--s3-rate must be at least " + EngineScaleWorkload.SYNCS + " (one update per second per sync); got "
                    + s3Rate);
        }
        Set<String> chosen = new LinkedHashSet<>();
        for (String w : workloads) {
            String u = w.trim().toUpperCase(Locale.ROOT);
            if (!WORKLOADS.contains(u)) {
                throw new UsageException("--workloads: unknown workload " + w + "; pick from " + String.join(",", WORKLOADS));
            }
            chosen.add(u);
        }
        if (!fsync.equals("on") && !fsync.equals("off")) {
            throw new UsageException("--fsync must be on or off; got " + fsync);
        }
        return chosen;
    }

    private static Map<String, Object> machine(BenchCluster cluster) throws Exception {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("cores", Runtime.getRuntime().availableProcessors());
        m.put("java", System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")");
        m.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"));
        m.put("maxHeapMb", Runtime.getRuntime().maxMemory() / (1024 * 1024));
        m.put("postgres", cluster.show("server_version"));
        return m;
    }

    private Map<String, Object> settings(BenchCluster cluster, Set<String> chosen, long wideBytes) throws Exception {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("workloads", List.copyOf(chosen));
        s.put("rows", rows);
        s.put("runs", runs);
        s.put("seconds", seconds);
        s.put("nodes", cluster.nodes());
        s.put("w2Clients", CaptureOverheadWorkload.CLIENTS);
        s.put("w4HotIds", Math.min(SettleWorkload.HOT_IDS, rows));
        s.put("w1PollMillis", BulkWorkload.POLL.toMillis());
        if (wideBytes > 0) {
            s.put("w1WideBytes", wideBytes);
            s.put("w1WideSync", BenchCluster.SYNC);
        }
        s.put("w2EngineStopped", "during every W2 step but W2 tps capture+engine");
        s.put("w3Rate", LagWorkload.RATE);
        s.put("w3SweepRates", LagWorkload.SWEEP);
        s.put("w3SweepSecondsPerRate", sweepSeconds());
        s.put("w3SustainedWhen", "lag p99 <= " + (int) LagWorkload.SUSTAINED_P99_MILLIS + " ms and at least 90% of the rate achieved");
        s.put("w3PollMillis", LagWorkload.POLL.toMillis());
        s.put("w4PollMillis", SettleWorkload.POLL.toMillis());
        if (chosen.contains("W5")) {
            s.put("w5Masters", WaitWorkload.MASTERS);
            s.put("w5Samples", WaitWorkload.samples(seconds));
            s.put("w5PauseMillis", WaitWorkload.PAUSE_MILLIS);
        }
        if (chosen.contains("S3")) {
            s.put("s3Syncs", EngineScaleWorkload.SYNCS);
            s.put("s3RowsPerTable", EngineScaleWorkload.rowsPerTable(s3Rate, seconds));
            s.put("s3Rate", s3Rate);
            s.put("s3Engines", EngineScaleWorkload.ENGINES);
            s.put("s3EngineProcesses", "each engine its own 'ibex start' JVM (-Xmx" + EngineProcesses.HEAP + "), started afresh for"
                    + " each measurement, one after the other; 1 standalone, 3 in a Pekko Cluster on loopback; control database ibex_control_s3 on a");
            s.put("s3PollMillis", EngineScaleWorkload.POLL.toMillis());
        }
        if (chosen.contains("N1")) {
            s.put("n1Rows", n1Rows());
            s.put("n1UpdatesPerSecond", 2 * AddNodeWorkload.WRITERS_PER_NODE * AddNodeWorkload.RATE_PER_WRITER);
        }
        s.put("syncIntervalMillis", BenchCluster.INTERVAL.toMillis());
        s.put("autokick", true);
        s.put("engines", "one per sync, each with its own control database and node pools");
        s.put("strategy", "latest");
        Map<String, String> server = new LinkedHashMap<>();
        for (String k : List.of("fsync", "synchronous_commit", "full_page_writes", "wal_level", "shared_buffers",
                "max_connections", "autovacuum")) {
            server.put(k, cluster.show(k));
        }
        s.put("server", server);
        return s;
    }

    private static void print(PrintWriter out, List<BenchResult> results) {
        out.println();
        List<List<String>> rows = new ArrayList<>();
        for (BenchResult r : results) {
            rows.add(Output.row(r.name(), num(r.median(), r.unit()), num(r.min(), r.unit()), num(r.max(), r.unit()), r.unit(),
                    r.ratio() == null ? "" : String.format(Locale.ROOT, "%.3f", r.ratio()), r.ratioTo()));
        }
        Output.table(out, List.of("WORKLOAD", "MEDIAN", "MIN", "MAX", "UNIT", "RATIO", "RATIO TO"), rows);
    }

    private static String num(double v, String unit) {
        String format = switch (unit) {
            case "s" -> "%.3f";
            case "ms", "MB/s" -> "%.1f";
            default -> "%.0f";
        };
        return String.format(Locale.ROOT, format, v);
    }

    /** The figures measured so far, by name in the order first measured. */
    private static final class Figures {
        private final Map<String, String> units = new LinkedHashMap<>();
        private final Map<String, List<Double>> values = new LinkedHashMap<>();

        void add(PrintWriter out, int run, String name, String unit, double value) {
            units.put(name, unit);
            values.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
            Progress.line(out, String.format(Locale.ROOT, "run %d: %s = %s %s", run, name, num(value, unit), unit));
        }

        List<BenchResult> results() {
            Map<String, BenchResult> byName = new LinkedHashMap<>();
            values.forEach((n, v) -> byName.put(n, BenchResult.of(n, units.get(n), v)));
            relate(byName, "W1 bulk 1 tx", "B0 plain COPY+upsert");
            relate(byName, "W1 bulk 10 tx", "B0 plain COPY+upsert");
            relate(byName, "W2 tps capture, engine stopped", "W2 tps no capture");
            relate(byName, "W2 tps capture+engine", "W2 tps no capture");
            for (BulkStatement s : BulkStatement.values()) {
                relate(byName, "W2 " + s.label + " capture", "W2 " + s.label + " no capture");
            }
            relate(byName, "S2 bulk to all, 5 masters", "S2 bulk to all, 3 masters");
            for (int engines : EngineScaleWorkload.ENGINES.subList(1, EngineScaleWorkload.ENGINES.size())) {
                for (String figure : List.of(" updates/s", " replicated")) {
                    relate(byName, s3Figure(engines) + figure, s3Figure(1) + figure);
                }
            }
            return List.copyOf(byName.values());
        }

        private static void relate(Map<String, BenchResult> byName, String figure, String baseline) {
            if (byName.containsKey(figure) && byName.containsKey(baseline)) {
                byName.put(figure, byName.get(figure).relativeTo(byName.get(baseline)));
            }
        }
    }
}
