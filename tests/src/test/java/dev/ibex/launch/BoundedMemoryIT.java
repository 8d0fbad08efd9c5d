package dev.ibex.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ibex.cli.Main;
import dev.ibex.testkit.Await;
import dev.ibex.testkit.PgServer;
import dev.ibex.testkit.Sql;
import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Issue 4 item 6 (issue 5 target 6), design invariant 6: the engine's memory does not grow with the
 * size of a transaction or of a backlog. The engine runs as {@code ibex start} in its own JVM with a
 * small fixed heap that exits on the first {@link OutOfMemoryError}, and replicates (1) one
 * transaction of {@code ibex.memory.transaction} rows inserted on a while it runs, then (2) a backlog
 * of {@code ibex.memory.backlog} pending changes written on a and b (in transactions of 5 000 rows,
 * a tenth of each node's keys written on both, hence conflicts) while it was stopped, then (3) one
 * transaction of 3 000 rows of 64 kB each. Each case must converge (row counts and checksums
 * equal) with the engine alive; the peak heap, a heap histogram taken mid-way and the rate are
 * printed. The {@code memory} Maven profile runs the sizes (a backlog of 5 000 000 changes);
 * {@code -Dibex.memory.heap} changes the heap limit.
 *
 * <p>Rows are about 100 bytes of text (five columns). The heap limit is 64 MB, a quarter of the
 * 256 MB that {@link StartCommandIT} gives: the engine's live data is about 12 MB (classes, pools,
 * Pekko, jOOQ) and a chunk a few MB more, whereas an engine that kept even an eighth of a million-row transaction in memory
 * (about 400 bytes a row as Java strings) would need more than 64 MB, so the small limit makes the
 * bound a sharper claim at no extra cost.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class BoundedMemoryIT {
    private static final long TRANSACTION = Long.getLong("ibex.memory.transaction", 1_000_000);
    private static final long BACKLOG = Long.getLong("ibex.memory.backlog", 200_000);
    private static final String HEAP = System.getProperty("ibex.memory.heap", "64m");
    private static final long WIDE_ROWS = 3_000;
    private static final long BACKLOG_KEYS_FROM = 10_000_000;
    private static final int BATCH = 5_000;
    private static final String INSERT = "insert into items select g, g % 9973, round((g % 100000) / 7.0, 2), "
            + "'order ' || md5(g::text) || ' from ' || ?, clock_timestamp() from generate_series(?::bigint, ?::bigint) g";

    private static PgServer a;
    private static PgServer b;
    private static String control;

    @BeforeAll
    static void servers() {
        a = PgServer.start("memory-a");
        b = PgServer.start("memory-b");
        a.createDatabase("ibex_control");
        control = a.jdbcUrl("ibex_control");
        for (PgServer s : List.of(a, b)) {
            s.execute("postgres", "create table items (id bigint primary key, account integer not null, "
                    + "amount numeric(12,2) not null, note text not null, changed_at timestamptz not null)",
                    "create table documents (id bigint primary key, title text not null, body text not null)");
        }
        assertEquals(0, Main.run("setup", "--control", control));
        assertEquals(0, Main.run("node", "add", "a", "--url", a.jdbcUrl("postgres"), "--control", control));
        assertEquals(0, Main.run("node", "add", "b", "--url", b.jdbcUrl("postgres"), "--control", control));
        assertEquals(0, Main.run("sync", "add", "s", "--nodes", "a,b", "--tables", "items,documents", "--interval", "1h", "--control", control));
    }

    @AfterAll
    static void stop() {
        b.close();
        a.close();
    }

    @Test
    @Order(1)
    void oneLargeTransactionReplicatesInABoundedHeap() throws Exception {
        try (EngineProcess engine = EngineProcess.startWithHeap(control, HEAP);
             Connection ca = a.connect("postgres"); Connection cb = b.connect("postgres")) {
            long baseline = writesOn(cb, "items");
            long t0 = System.nanoTime();
            Sql.exec(ca, INSERT, "a", 1, TRANSACTION);
            OffsetDateTime committed = OffsetDateTime.now(ZoneOffset.UTC);
            report("transaction case: inserted %d rows on a in one transaction in %.1f s", TRANSACTION, seconds(t0));

            Outcome o = converge(engine, ca, cb, "items", baseline, TRANSACTION, TRANSACTION, committed,
                    Duration.ofSeconds(120 + TRANSACTION / 1000));
            report("transaction case: %d rows, -Xmx%s: converged %.1f s after the commit (%.0f rows/s); round %s; %s",
                    TRANSACTION, HEAP, o.seconds(), TRANSACTION / o.seconds(), describe(o.round()), o.heap());
        }
    }

    @Test
    @Order(2)
    void backlogBuiltWhileStoppedReplicatesInABoundedHeap() throws Exception {
        try (Connection ca = a.connect("postgres"); Connection cb = b.connect("postgres")) {
            long perNode = BACKLOG / 2;
            long shared = perNode / 10;
            long before = Sql.count(ca, "select count(*) from items");
            long fromB = BACKLOG_KEYS_FROM + perNode - shared + 1;
            long t0 = System.nanoTime();
            writeInBatches(ca, "a", BACKLOG_KEYS_FROM + 1, BACKLOG_KEYS_FROM + perNode);
            writeInBatches(cb, "b", fromB, fromB + perNode - 1);
            report("backlog case: wrote %d changes (%d keys on each node, %d of them on both) in transactions of %d rows in %.1f s",
                    2 * perNode, perNode, shared, BATCH, seconds(t0));

            long baseline = writesOn(cb, "items");
            OffsetDateTime launched = OffsetDateTime.now(ZoneOffset.UTC);
            try (EngineProcess engine = EngineProcess.startWithHeap(control, HEAP)) {
                Outcome o = converge(engine, ca, cb, "items", baseline, perNode - shared, before + 2 * perNode - shared, launched,
                        Duration.ofSeconds(120 + BACKLOG / 1000));
                report("backlog case: %d pending changes, -Xmx%s: converged %.1f s after the engine started; round %s; %s",
                        2 * perNode, HEAP, o.seconds(), describe(o.round()), o.heap());
            }
        }
    }

    /**
     * Rows of 64 kB: a chunk of 1 000 of them (a round's first chunk; chunks grow to 40 000 keys) would be 64 MB of row text on the reading side alone
     * (before chunks were sized by bytes, the engine ran out of memory here), so the engine must size
     * its chunks by bytes, not only by keys, to stay within the heap.
     */
    @Test
    @Order(3)
    void wideRowsReplicateInABoundedHeap() throws Exception {
        try (EngineProcess engine = EngineProcess.startWithHeap(control, HEAP);
             Connection ca = a.connect("postgres"); Connection cb = b.connect("postgres")) {
            long rows = WIDE_ROWS;
            long baseline = writesOn(cb, "documents");
            Sql.exec(ca, "insert into documents select g, 'document ' || g, repeat(md5(g::text), 2000) "
                    + "from generate_series(1, ?::bigint) g", rows);
            OffsetDateTime committed = OffsetDateTime.now(ZoneOffset.UTC);
            Outcome o = converge(engine, ca, cb, "documents", baseline, rows, rows, committed, Duration.ofSeconds(120 + rows / 20));
            report("wide rows case: %d rows of 64 kB (%d MB), -Xmx%s: converged %.1f s after the commit; round %s; %s",
                    rows, rows * 64_000 / 1_000_000, HEAP, o.seconds(), describe(o.round()), o.heap());
        }
    }

    /** Inserts keys {@code from..to} in transactions of {@link #BATCH} rows. */
    private static void writeInBatches(Connection c, String node, long from, long to) {
        for (long k = from; k <= to; k += BATCH) {
            Sql.exec(c, INSERT, node, k, Math.min(k + BATCH - 1, to));
        }
    }

    /**
     * Once b has taken about 40 % of {@code expected} rows, prints the engine's heap histogram
     * (diagnostic; the assertions are the engine surviving its heap limit, and convergence).
     */
    private static void histogramMidway(EngineProcess engine, Connection cb, String table, long baseline, long expected,
                                        Duration deadline) throws Exception {
        Await.until("b takes 40 % of the rows", deadline,
                () -> writesOn(cb, table) - baseline >= expected * 2 / 5 || !engine.isAlive());
        if (engine.isAlive()) {
            report("engine heap histogram with about 40 %% of the rows applied:%n%s", engine.histogram(15));
        }
    }

    /** Rows inserted or updated in b's table so far, from PostgreSQL's statistics (cheap, may lag by a second). */
    private static long writesOn(Connection cb, String table) {
        return Sql.count(cb, "select coalesce(sum(n_tup_ins + n_tup_upd), 0) from pg_stat_user_tables where relname = ?", table);
    }

    /**
     * Waits for a round that started after {@code after} and ended with no error, with the engine
     * alive all along; returns the round's figures.
     */
    private static List<String> awaitRound(EngineProcess engine, OffsetDateTime after, Duration deadline) {
        try (Connection c = Sql.connect(control)) {
            List<List<String>> round = Await.value("a round started after " + after + " ends with no error", deadline,
                    () -> Sql.rows(c, "select id, rows_read, rows_applied, conflicts, "
                            + "round(extract(epoch from finished_at - started_at)::numeric, 1) "
                            + "from ibex.round where sync_name = 's' and started_at > ? and outcome = 'ok' order by id limit 1", after),
                    rows -> !rows.isEmpty() || !engine.isAlive());
            engine.assertAlive();
            return round.get(0);
        } catch (java.sql.SQLException e) {
            throw new Sql.UncheckedSqlException("closing the control connection", e);
        }
    }

    private static String describe(List<String> round) {
        double seconds = Double.parseDouble(round.get(4));
        return String.format(java.util.Locale.ROOT, "%s: %s keys decided, %s rows applied, %s conflicts in %.1f s (%.0f rows applied/s)",
                round.get(0), round.get(1), round.get(2), round.get(3), seconds, Long.parseLong(round.get(2)) / seconds);
    }

    /** How one case ended: seconds from {@code since} to the round that converged, that round's line, the heap. */
    private record Outcome(double seconds, List<String> round, GcLog.Peak heap) {
    }

    /**
     * Takes the heap histogram once b holds part of the rows ({@code midwayOf} of them changed since
     * {@code baseline}), waits for the engine's round that ends the work, checks that {@code table}
     * holds {@code rows} rows on both nodes, and stops the engine.
     */
    private static Outcome converge(EngineProcess engine, Connection ca, Connection cb, String table, long baseline, long midwayOf,
                                    long rows, OffsetDateTime since, Duration deadline) throws Exception {
        List<String> round;
        try {
            histogramMidway(engine, cb, table, baseline, midwayOf, deadline);
            round = awaitRound(engine, since, deadline);
            assertConverged(ca, cb, table, rows);
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\n" + diagnosis(engine, cb, table, baseline), e);
        }
        double elapsed = Duration.between(since, OffsetDateTime.now(ZoneOffset.UTC)).toMillis() / 1000.0;
        GcLog.Peak heap = engine.heap();
        engine.stop();
        return new Outcome(elapsed, round, heap);
    }

    /**
     * What a failed case leaves to go on: rows b took, the engine's heap and collections so far, its
     * last rounds on the control database, what its sessions on b are doing, and the end of its output.
     */
    private static String diagnosis(EngineProcess engine, Connection cb, String table, long baseline) {
        StringBuilder b = new StringBuilder();
        b.append("rows b took: ").append(writesOn(cb, table) - baseline).append('\n');
        b.append("engine heap: ").append(engine.heap()).append('\n');
        try (Connection c = Sql.connect(control)) {
            b.append("last rounds (id, started, finished, outcome, keys decided, rows applied, error): ")
                    .append(Sql.rows(c, "select id, started_at, finished_at, outcome, rows_read, rows_applied, left(error, 300) from ibex.round "
                            + "where sync_name = 's' order by id desc limit 5")).append('\n');
        } catch (java.sql.SQLException | RuntimeException e) {
            b.append("rounds: ").append(e.getMessage()).append('\n');
        }
        b.append("sessions on b (state, wait, query): ").append(Sql.rows(cb, "select state, wait_event_type || ':' || wait_event, "
                + "left(query, 160) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()")).append('\n');
        List<String> lines = engine.output().lines().toList();
        b.append("engine output, last lines:\n");
        lines.subList(Math.max(0, lines.size() - 40), lines.size()).forEach(l -> b.append("  ").append(l).append('\n'));
        return b.toString();
    }

    private static void assertConverged(Connection ca, Connection cb, String table, long rows) {
        String checksum = "select count(*) || ' rows, hash ' || coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint), 0) "
                + "from " + table + " t";
        assertEquals(rows, Sql.count(ca, "select count(*) from " + table), "rows on a");
        assertEquals(rows, Sql.count(cb, "select count(*) from " + table), "rows on b");
        Await.until("a and b hold the same rows", Duration.ofSeconds(60),
                () -> Sql.rows(ca, checksum).equals(Sql.rows(cb, checksum)));
    }

    private static double seconds(long startNanos) {
        return (System.nanoTime() - startNanos) / 1e9;
    }

    private static void report(String format, Object... args) {
        System.out.println("[bounded memory] " + String.format(java.util.Locale.ROOT, format, args));
    }
}
