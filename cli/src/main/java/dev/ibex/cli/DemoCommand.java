package dev.ibex.cli;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.db.NodeSettings;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.copy.TableChecksum;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.journal.ConflictJournal;
import dev.ibex.engine.runtime.Engine;
import dev.ibex.engine.status.StatusReader;
import dev.ibex.engine.status.SyncStatus;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "demo", mixinStandardHelpOptions = true, description = {
        "Start three embedded PostgreSQL masters, replicate a sample schema among them while all three take",
        "concurrent (and conflicting) writes, then show convergence, status and the conflict journal.",
        "Exits 0 only if the three masters converged. Needs nothing but Java."})
final class DemoCommand implements Callable<Integer> {
    static final String SYNC = "shop";
    static final List<TableRef> TABLES = List.of(new TableRef("shop", "customer"), new TableRef("shop", "Order Line"));

    @Spec
    CommandSpec spec;
    @Option(names = "--seconds", defaultValue = "5", description = "How long the writers write (default 5).")
    int seconds;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        List<EmbeddedPostgres> servers = new ArrayList<>();
        try {
            Map<String, String> urls = new LinkedHashMap<>();
            for (String n : List.of("a", "b", "c")) {
                out.println("starting embedded PostgreSQL for node " + n + " ...");
                out.flush();
                EmbeddedPostgres pg = EmbeddedPostgres.builder().setServerConfig("fsync", "off")
                        .setServerConfig("synchronous_commit", "off").start();
                servers.add(pg);
                urls.put(n, pg.getJdbcUrl("postgres", "postgres"));
                schema(pg);
            }
            createDatabase(servers.get(0), "ibex_control");
            String controlUrl = servers.get(0).getJdbcUrl("postgres", "ibex_control");
            return run(out, urls, controlUrl) ? Cli.OK : Cli.FAILED;
        } finally {
            for (EmbeddedPostgres pg : servers) {
                try {
                    pg.close();
                } catch (IOException ignored) {
                    // the demo's servers live in temporary directories
                }
            }
        }
    }

    private boolean run(PrintWriter out, Map<String, String> urls, String controlUrl) throws Exception {
        try (ControlStore control = ControlStore.open(controlUrl, null); NodeDirectory nodes = new NodeDirectory(control.nodes()::get)) {
            control.migrate();
            List<NodeId> ids = new ArrayList<>();
            for (Map.Entry<String, String> e : urls.entrySet()) {
                control.nodes().add(new NodeSettings(e.getKey(), e.getValue(), null));
                ids.add(new NodeId(e.getKey(), ids.size() + 1));
            }
            try (Connection a = nodes.pool("a").getConnection()) {
                DemoWorkload.seed(a);
            }
            SyncSettings sync = new SyncSettings(SYNC, ids, TABLES.stream().map(t -> new TableSettings(t, null, false, null)).toList(),
                    "latest", List.of(), Duration.ofSeconds(1), false);
            new dev.ibex.engine.install.SyncInstaller(control, nodes).addSync(sync, "a", (t, f, to, d, total) -> { });
            out.println("sync " + SYNC + " set up on nodes a, b, c (initial copy from a); engine starting");
            out.println("writing on all three nodes for " + seconds + " s (hot rows updated everywhere: conflicts expected) ...");
            out.flush();
            try (Engine engine = Engine.start(control)) {
                DemoWorkload.Result w = DemoWorkload.run(nodes, List.of("a", "b", "c"), Duration.ofSeconds(seconds));
                out.println("writers done: " + w.transactions() + " transactions (" + w.perNode() + ")");
                out.flush();
                long settleStart = System.nanoTime();
                boolean converged = awaitConvergence(nodes, engine, Duration.ofSeconds(60));
                double settle = (System.nanoTime() - settleStart) / 1e9;
                report(out, control, nodes, converged, settle);
                return converged;
            }
        }
    }

    private static boolean awaitConvergence(NodeDirectory nodes, Engine engine, Duration limit) throws SQLException {
        long deadline = System.nanoTime() + limit.toNanos();
        while (System.nanoTime() < deadline) {
            engine.wake(SYNC);
            if (checksums(nodes).values().stream().allMatch(m -> m.values().stream().distinct().count() == 1)) {
                return true;
            }
            java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofMillis(200).toNanos());
        }
        return false;
    }

    /** Per table, per node, the table's checksum. */
    static Map<TableRef, Map<String, TableChecksum>> checksums(NodeDirectory nodes) throws SQLException {
        Map<TableRef, Map<String, TableChecksum>> out = new LinkedHashMap<>();
        for (TableRef t : TABLES) {
            Map<String, TableChecksum> m = new LinkedHashMap<>();
            for (String n : List.of("a", "b", "c")) {
                try (Connection c = nodes.pool(n).getConnection()) {
                    m.put(n, TableChecksum.of(c, n, t));
                }
            }
            out.put(t, m);
        }
        return out;
    }

    private static void report(PrintWriter out, ControlStore control, NodeDirectory nodes, boolean converged, double settle)
            throws SQLException {
        out.println();
        out.println(converged ? String.format("CONVERGED: all three nodes hold identical tables (settled in %.1f s)", settle)
                : "NOT CONVERGED within 60 s");
        List<List<String>> rows = new ArrayList<>();
        checksums(nodes).forEach((t, m) -> m.forEach((n, s) -> rows.add(Output.row(t, n, s.rows(), s.hash()))));
        Output.table(out, List.of("TABLE", "NODE", "ROWS", "CHECKSUM"), rows);
        out.println();
        SyncStatus st = new StatusReader(control, nodes, Clock.systemUTC()).read(SYNC);
        StatusCommand.printOne(out, st);
        ConflictJournal journal = new ConflictJournal(control.dsl());
        out.println("conflict journal: " + journal.count(SYNC) + " conflicts recorded; the 5 newest:");
        ConflictsCommand.print(out, journal.list(SYNC, null, null, 5), false);
        out.flush();
    }

    private static void schema(EmbeddedPostgres pg) throws IOException, SQLException {
        String ddl = new String(DemoCommand.class.getResourceAsStream("/demo/schema.sql").readAllBytes(), StandardCharsets.UTF_8);
        try (Connection c = pg.getPostgresDatabase().getConnection(); Statement s = c.createStatement()) {
            s.execute(ddl);
        }
    }

    private static void createDatabase(EmbeddedPostgres pg, String name) throws SQLException {
        try (Connection c = pg.getPostgresDatabase().getConnection(); Statement s = c.createStatement()) {
            s.execute("create database " + name);
        }
    }
}
