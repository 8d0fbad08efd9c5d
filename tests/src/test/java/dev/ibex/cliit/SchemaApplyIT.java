package dev.ibex.cliit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ibex.testkit.Await;
import dev.ibex.testkit.PgServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer.OrderAnnotation;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestInstance.Lifecycle;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * {@code ibex schema apply} (issue 14, item 3) on three real servers with an engine running: every
 * refusal exits 2 with one line and changes nothing on any node or in the control database; then,
 * with a writer on every node during each change, one change after the other (add a column with a
 * default and without, rename a column, retype int to bigint, drop a column, create a table, create
 * an index) ends with the nodes equal, every node's own writes present, the new shape identical
 * everywhere and the table replicating again; a change that one node refuses is rolled back on
 * every node while the table goes on replicating; once every node allows prepared transactions,
 * changes commit with two-phase commit, and one left prepared on a node is committed by
 * {@code --resolve}; a change that waits for a long transaction is rolled back everywhere and
 * tried again, and gives up after five attempts with nothing changed.
 */
@TestInstance(Lifecycle.PER_CLASS)
@TestMethodOrder(OrderAnnotation.class)
class SchemaApplyIT {
    private static final Duration SETTLE = Duration.ofSeconds(40);

    private final Map<String, PgServer> servers = new LinkedHashMap<>();
    private final List<Writer> writers = new ArrayList<>();
    private String control;
    private InProcessEngine engine;
    private long nextBase = 1_000_000;

    @BeforeAll
    void start() {
        for (String n : List.of("a", "b", "c")) {
            PgServer server = PgServer.start("schema-" + n);
            servers.put(n, server);
            server.execute("postgres", "create table t (id bigint primary key, v text not null, n int)",
                    "create table u (id bigint primary key, v text)",
                    "create table k (code text not null, v text, constraint k_code_key unique (code))");
        }
        servers.get("a").createDatabase("ibex_control");
        control = servers.get("a").jdbcUrl("ibex_control");
        ok("setup");
        for (String n : servers.keySet()) {
            ok("node", "add", n, "--url", servers.get(n).jdbcUrl("postgres"));
        }
        ok("sync", "add", "s", "--nodes", "a,b,c", "--tables", "t,u,k", "--interval", "200ms");
        engine = InProcessEngine.start(control);
    }

    @AfterAll
    void stop() {
        try (PgServer x = servers.get("a"); PgServer y = servers.get("b"); PgServer z = servers.get("c"); InProcessEngine e = engine) {
            // closed in reverse order
        }
    }

    @Test
    @Order(1)
    void whatCannotBeMadeSafeIsRefusedAndChangesNothing() throws IOException {
        servers.get("a").execute("postgres", "insert into t values (-1, 'before', 1)");
        Await.until("the first row on every node", SETTLE,
                () -> servers.values().stream().allMatch(s -> s.count("postgres", "select count(*) from t") == 1));
        refused("nosuch", "schema", "apply", "nosuch", "--sql", "alter table t add column x int");
        refused("--sql SQL or --file FILE", "schema", "apply", "s");
        Path script = Files.createTempFile("ibex-schema", ".sql");
        Files.writeString(script, "alter table t add column x int");
        refused("--sql SQL or --file FILE", "schema", "apply", "s", "--sql", "alter table t add column x int", "--file", script.toString());
        refused("cannot be read", "schema", "apply", "s", "--file", script + ".missing");
        refused("empty", "schema", "apply", "s", "--sql", "  ");
        refused("--lock-timeout", "schema", "apply", "s", "--sql", "alter table t add column x int", "--lock-timeout", "0s");
        refused("drops key column id", "schema", "apply", "s", "--sql", "alter table t drop column id");
        refused("changes the type of key column id", "schema", "apply", "s", "--sql", "alter table t alter column id type int");
        refused("renames key column id", "schema", "apply", "s", "--sql", "alter table t rename column id to key");
        // a table keyed by a unique index: its key columns are as protected as a primary key's
        refused("changes the type of key column code", "schema", "apply", "s", "--sql", "alter table k alter column code type varchar(20)");
        refused("changes the key", "schema", "apply", "s", "--sql", "alter table k drop constraint k_code_key");
        refused("changes rows", "schema", "apply", "s", "--sql", "alter table t add column x int; update t set x = 1");
        refused("changes rows", "schema", "apply", "s", "--sql", "insert into u values (-5, 'x')");
        refused("not immutable", "schema", "apply", "s", "--sql", "alter table t add column at timestamptz default now()");
        refused("not immutable", "schema", "apply", "s", "--sql", "alter table t add column r float8 not null default random()");
        refused("not immutable", "schema", "apply", "s", "--sql", "alter table t add column s serial");
        refused("an identity column", "schema", "apply", "s", "--sql", "alter table t add column g int generated always as identity");
        refused("drop CONCURRENTLY", "schema", "apply", "s", "--sql", "create index concurrently t_v on t (v)");
        refused("ibex table remove s public.u", "schema", "apply", "s", "--sql", "drop table u");
        refused("ibex table remove s public.u", "schema", "apply", "s", "--sql", "alter table u rename to u2");
        refused("no primary key", "schema", "apply", "s", "--sql", "create table nokey (v text)");
        refused("refused the script in a dry run", "schema", "apply", "s", "--sql", "alter tabel t add column x int");
    }

    @Test
    @Order(2)
    void eachChangeRollsOutWhileEveryNodeWrites() {
        JsonNode first = change("alter table t add column d int not null default 7", List.of("public.t"), List.of());
        assertEquals("one by one", first.path("commit").asText(), first::toString);
        assertShape("id bigint,v text,n integer,d integer");
        change("alter table t add column e text", List.of("public.t"), List.of());
        assertShape("id bigint,v text,n integer,d integer,e text");
        change("alter table t rename column e to e2", List.of("public.t"), List.of());
        assertShape("id bigint,v text,n integer,d integer,e2 text");
        change("alter table t alter column n type bigint using n::bigint", List.of("public.t"), List.of());
        assertShape("id bigint,v text,n bigint,d integer,e2 text");
        change("alter table t drop column d", List.of("public.t"), List.of());
        assertShape("id bigint,v text,n bigint,e2 text");

        change("create table t2 (id bigint primary key, v text)", List.of(), List.of("public.t2"));
        long k = 0;
        for (PgServer s : servers.values()) {
            s.execute("postgres", "insert into t2 values (" + (++k) + ", '" + s.name() + "')");
        }
        Await.until("a row written on each node reaches every node", SETTLE,
                () -> servers.values().stream().allMatch(s -> s.count("postgres", "select count(*) from t2") == 3));
        assertEquals(1, servers.get("a").count("ibex_control", "select count(*) from ibex.sync_table where table_name = 't2' "
                + "and sync_name = 's' and not paused"));

        change("create index t_v on t (v)", List.of(), List.of());
        for (PgServer s : servers.values()) {
            assertEquals(1, s.count("postgres", "select count(*) from pg_indexes where indexname = 't_v'"), s.name());
        }
    }

    @Test
    @Order(3)
    void aChangeOneNodeRefusesIsRolledBackEverywhere() {
        servers.get("c").execute("postgres", "create index t_only_c on t (n)");
        String before = state();
        Writer w = startWriters();
        IbexCli.Result r;
        try {
            r = run("schema", "apply", "s", "--sql", "alter table t add column f int; create index t_only_c on t (v)");
            int seen = w.count();
            Await.until("writes after the refused change", SETTLE, () -> w.count() > seen + 30);
        } finally {
            stopWriters();
        }
        assertEquals(1, r.code(), r::toString);
        List<String> errors = r.stderrLines().stream().filter(l -> l.startsWith("ibex: ")).toList();
        assertEquals(1, errors.size(), r::toString);
        assertTrue(errors.get(0).startsWith("ibex: node c refused the change:") && errors.get(0).contains("t_only_c")
                && errors.get(0).contains("nothing changed"), r::toString);
        assertEquals(before, state(), "a change one node refused left something behind");
        converged();
        servers.get("c").execute("postgres", "drop index t_only_c");
    }

    @Test
    @Order(4)
    void everyNodeAllowingPreparedTransactionsCommitsWithTwoPhaseCommit() {
        for (PgServer s : servers.values()) {
            s.execute("postgres", "alter system set max_prepared_transactions = 10");
            s.stop();
            s.restart();
        }
        JsonNode report = change("alter table t add column p int", List.of("public.t"), List.of());
        assertEquals("two-phase", report.path("commit").asText(), report::toString);
        assertShape("id bigint,v text,n bigint,e2 text,p integer");
        for (PgServer s : servers.values()) {
            assertEquals(0, s.count("postgres", "select count(*) from pg_prepared_xacts"), s.name());
        }
        assertEquals(0, servers.get("a").count("ibex_control", "select count(*) from ibex.schema_change"));
    }

    /** Issue 14: a change prepared everywhere whose COMMIT PREPARED did not reach node c is committed there by --resolve. */
    @Test
    @Order(5)
    void aChangeLeftPreparedOnANodeIsCommittedByResolve() {
        ok("table", "pause", "s", "t");
        servers.get("a").execute("ibex_control", "insert into ibex.schema_change (gid, sync_name, script, paused, state) values "
                + "('ibex_schema_left', 's', 'alter table t add column q int', '{public.t}', 'committing')");
        servers.get("a").execute("postgres", "alter table t add column q int");
        servers.get("b").execute("postgres", "alter table t add column q int");
        servers.get("c").execute("postgres", "begin", "alter table t add column q int", "prepare transaction 'ibex_schema_left'");
        assertEquals(1, servers.get("c").count("postgres", "select count(*) from pg_prepared_xacts"));

        IbexCli.Result r = ok("schema", "apply", "s", "--resolve");
        assertTrue(r.stderr().contains("earlier change ibex_schema_left: node c: committed"), r::toString);
        assertTrue(r.stdout().contains("1 schema change(s) of sync s resolved"), r::toString);
        assertShape("id bigint,v text,n bigint,e2 text,p integer,q integer");
        assertEquals(0, servers.get("c").count("postgres", "select count(*) from pg_prepared_xacts"));
        assertEquals(0, servers.get("a").count("ibex_control", "select count(*) from ibex.schema_change"));
        assertEquals(0, servers.get("a").count("ibex_control", "select count(*) from ibex.sync_table where paused"));
        Writer w = startWriters();
        try {
            Await.until("writes after the resolution", SETTLE, () -> w.count() > 50);
        } finally {
            stopWriters();
        }
        converged();
        assertTrue(ok("schema", "apply", "s", "--resolve").stdout().contains("nothing to do"));
    }

    /** A long transaction on b holding t: the change is rolled back everywhere and tried again until it gets the lock, or gives up. */
    @Test
    @Order(6)
    void aChangeWaitingForALongTransactionRetriesThenGivesUp() throws Exception {
        try (Connection holder = servers.get("b").connect("postgres")) {
            holder.setAutoCommit(false);
            holder.createStatement().execute("lock table t in access share mode");
            Thread release = new Thread(() -> {
                LockSupport.parkNanos(Duration.ofMillis(800).toNanos());
                try {
                    holder.rollback();
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            });
            release.start();
            IbexCli.Result r = ok("schema", "apply", "s", "--sql", "alter table t add column r1 int", "--lock-timeout", "200ms", "--json");
            release.join();
            assertTrue(r.json().path("attempts").asInt() > 1, r::toString);
            assertTrue(r.stderr().contains("node b: a lock was not granted within 200 ms") && r.stderr().contains("trying again"), r::toString);
        }
        assertShape("id bigint,v text,n bigint,e2 text,p integer,q integer,r1 integer");

        String before = state();
        try (Connection holder = servers.get("b").connect("postgres")) {
            holder.setAutoCommit(false);
            holder.createStatement().execute("lock table t in access share mode");
            IbexCli.Result r = run("schema", "apply", "s", "--sql", "alter table t add column r2 int", "--lock-timeout", "100ms");
            assertEquals(1, r.code(), r::toString);
            List<String> errors = r.stderrLines().stream().filter(l -> l.startsWith("ibex: ")).toList();
            assertEquals(1, errors.size(), r::toString);
            assertTrue(errors.get(0).startsWith("ibex: node b refused the change:") && errors.get(0).contains("after 5 attempts")
                    && errors.get(0).contains("nothing changed"), r::toString);
            holder.rollback();
        }
        assertEquals(before, state(), "a change that never got its lock left something behind");
    }

    /** Applies {@code ddl} while every node writes; then the nodes converge with every write, and nothing is paused. */
    private JsonNode change(String ddl, List<String> changed, List<String> created) {
        startWriters();
        JsonNode report;
        try {
            Await.until("writers to write before the change", SETTLE, () -> writers.stream().allMatch(x -> x.count() > 20));
            IbexCli.Result r = run("schema", "apply", "s", "--sql", ddl, "--json");
            assertEquals(0, r.code(), () -> r + "\nsessions on a: " + servers.get("a").rows("postgres", "select pid::text, state, "
                    + "coalesce(xact_start::text, ''), left(query, 120) from pg_stat_activity where datname = 'postgres'"));
            report = r.json();
            Map<Writer, Integer> seen = new HashMap<>();
            writers.forEach(x -> seen.put(x, x.count()));
            Await.until("writers to write after the change", SETTLE,
                    () -> writers.stream().filter(Writer::running).allMatch(x -> x.count() > seen.get(x) + 20));
        } finally {
            stopWriters();
        }
        assertEquals(changed, texts(report.path("changedTables")), report::toString);
        assertEquals(created, texts(report.path("createdTables")), report::toString);
        assertEquals(3, report.path("nodes").size(), report::toString);
        converged();
        assertEquals(0, servers.get("a").count("ibex_control", "select count(*) from ibex.sync_table where paused"), ddl);
        return report;
    }

    /** Every node holds the same rows, every writer's own rows with its last value, the shared rows with a written value. */
    private void converged() {
        Await.until("the nodes to converge", SETTLE, () -> servers.values().stream()
                .map(s -> s.rows("postgres", "select count(*)::text, md5(coalesce(string_agg(t::text, ',' order by id), '')) from t"))
                .distinct().count() == 1);
        Map<Long, String> rows = new HashMap<>();
        servers.get("b").rows("postgres", "select id::text, v from t").forEach(r -> rows.put(Long.parseLong(r.get(0)), r.get(1)));
        Set<String> written = ConcurrentHashMap.newKeySet();
        for (Writer w : writers) {
            w.check();
            written.addAll(w.written);
            w.own.forEach((id, v) -> assertEquals(v, rows.get(id), "row " + id + " written only on " + w.node + " lost its last value"));
        }
        for (long id = 1; id <= Writer.SHARED; id++) {
            String v = rows.get(id);
            assertTrue(v == null || written.contains(v), "shared row " + id + " holds a value nobody wrote: " + v);
        }
    }

    private void assertShape(String expected) {
        for (PgServer s : servers.values()) {
            assertEquals(expected, s.rows("postgres", "select string_agg(attname || ' ' || format_type(atttypid, atttypmod), ',' "
                    + "order by attnum) from pg_attribute where attrelid = 't'::regclass and attnum > 0 and not attisdropped")
                    .get(0).get(0), "shape of t on " + s.name());
        }
    }

    private Writer startWriters() {
        Writer first = null;
        for (PgServer s : servers.values()) {
            Writer w = new Writer(s, nextBase);
            nextBase += 1_000_000;
            writers.add(w);
            first = first == null ? w : first;
        }
        return first;
    }

    private void stopWriters() {
        writers.forEach(Writer::close);
    }

    /**
     * Writes to t on one node until closed, in autocommit: inserts rows of its own (ids from
     * {@code base} up), updates some of them, and upserts the shared rows 1..{@link #SHARED};
     * remembers the last committed value of each of its own rows and every value it wrote.
     */
    private static final class Writer implements AutoCloseable {
        static final long SHARED = 20;
        final String node;
        final Map<Long, String> own = new ConcurrentHashMap<>();
        final Set<String> written = ConcurrentHashMap.newKeySet();
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        final Thread thread;
        volatile boolean stop;
        private volatile int count;

        Writer(PgServer server, long base) {
            node = server.name();
            thread = new Thread(() -> write(server, base), "writer-" + server.name());
            thread.start();
        }

        private void write(PgServer server, long base) {
            try (Connection conn = server.connect("postgres"); PreparedStatement upsert = conn.prepareStatement(
                    "insert into t (id, v, n) values (?, ?, ?) on conflict (id) do update set v = excluded.v, n = excluded.n")) {
                long next = base;
                for (int i = 0; !stop; i++) {
                    long id = switch (i % 3) {
                        case 0 -> next++;
                        case 1 -> next == base ? next++ : base + (i * 7L) % (next - base);
                        default -> 1 + i % SHARED;
                    };
                    String v = server.name() + "-" + base + "-" + i;
                    upsert.setLong(1, id);
                    upsert.setString(2, v);
                    upsert.setInt(3, i);
                    upsert.executeUpdate();
                    written.add(v);
                    if (id >= base) {
                        own.put(id, v);
                    }
                    count = i + 1;
                    LockSupport.parkNanos(Duration.ofMillis(3).toNanos());
                }
            } catch (SQLException | RuntimeException e) {
                failure.set(e);
            }
        }

        int count() {
            return count;
        }

        boolean running() {
            return !stop;
        }

        void check() {
            assertNull(failure.get(), () -> "writer on " + node + " failed: " + failure.get());
        }

        @Override
        public void close() {
            stop = true;
            try {
                thread.join(Duration.ofSeconds(30).toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** A command that must be refused: exit 2, one line naming {@code what}, and nothing changed anywhere. */
    private void refused(String what, String... args) {
        String before = state();
        IbexCli.Result r = run(args).requireRefused(what);
        assertEquals(before, state(), () -> "a refused command changed something: " + r);
    }

    /** The control database's tables of the sync, and on each node the user tables' columns, the indexes and the capture. */
    private String state() {
        StringBuilder s = new StringBuilder();
        s.append(servers.get("a").rows("ibex_control", "select sync_name, table_schema, table_name, paused::text, "
                + "coalesce(pause_reason, '') from ibex.sync_table order by 2, 3"));
        for (PgServer n : servers.values()) {
            s.append(n.rows("postgres", "select c.relname, a.attnum::text, a.attname, format_type(a.atttypid, a.atttypmod), "
                    + "coalesce(pg_get_expr(d.adbin, d.adrelid), '') from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 "
                    + "left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum "
                    + "where c.relnamespace = 'public'::regnamespace order by 1, 2"));
            s.append(n.rows("postgres", "select indexname from pg_indexes where schemaname = 'public' order by 1"));
            s.append(n.rows("postgres", "select table_name, ledger_name from ibex.capture order by 1"));
        }
        return s.toString();
    }

    private static List<String> texts(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    private IbexCli.Result run(String... args) {
        return IbexCli.run(IbexCli.concat(List.of(args), "--control", control));
    }

    private IbexCli.Result ok(String... args) {
        return IbexCli.ok(IbexCli.concat(List.of(args), "--control", control));
    }
}
