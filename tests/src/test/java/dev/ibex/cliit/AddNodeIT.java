package dev.ibex.cliit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ibex.testkit.Await;
import dev.ibex.testkit.PgServer;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
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
 * {@code ibex sync add-node} (issue 14) on three real servers with an engine running: bad input is
 * refused and changes nothing; a node added while every node (itself included) writes gets a
 * consistent copy, joins and converges with nothing acknowledged lost, and a conflict between it
 * and an old member is decided by the strategy and journaled; a node added after another was
 * removed gets an ordinal never used before, so that its changes are not taken for the removed
 * node's; and a node left joining by a crash can be resynced or removed.
 */
@TestInstance(Lifecycle.PER_CLASS)
@TestMethodOrder(OrderAnnotation.class)
class AddNodeIT {
    private static final Duration SETTLE = Duration.ofSeconds(60);
    private static final int BIG = 30_000;

    private PgServer a;
    private PgServer b;
    private PgServer c;
    private String control;
    private InProcessEngine engine;

    @BeforeAll
    void start() {
        a = PgServer.start("addnode-a");
        b = PgServer.start("addnode-b");
        c = PgServer.start("addnode-c");
        for (PgServer server : List.of(a, b)) {
            server.execute("postgres", "create table t (id bigint primary key, v text)",
                    "create table p (g int, k int, v text, primary key (g, k))",
                    "insert into t select g, 'seed' from generate_series(1, " + BIG + ") g",
                    "insert into p select g, k, 'seed' from generate_series(1, 5) g, generate_series(0, 39) k",
                    "create table u (id bigint primary key, v text)", "insert into u values (1, 'orig')");
        }
        // c has the tables already, with rows of its own that the copy replaces
        c.execute("postgres", "create table t (id bigint primary key, v text)", "create table p (g int, k int, v text, primary key (g, k))",
                "insert into t select g, 'c before' from generate_series(1, 20) g",
                "insert into t select g, 'c junk' from generate_series(900000, 900009) g", "insert into p values (1, 0, 'c before')");
        for (String db : List.of("x", "y", "z")) {
            c.createDatabase(db);
            c.execute(db, "create table u (id bigint primary key, v text)");
        }
        c.createDatabase("ibex_control");
        control = c.jdbcUrl("ibex_control");
        ok("setup");
        ok("node", "add", "a", "--url", a.jdbcUrl("postgres"));
        ok("node", "add", "b", "--url", b.jdbcUrl("postgres"));
        ok("node", "add", "c", "--url", c.jdbcUrl("postgres"));
        for (String db : List.of("x", "y", "z")) {
            ok("node", "add", db, "--url", c.jdbcUrl(db));
        }
        ok("sync", "add", "s", "--nodes", "a,b", "--tables", "t,p", "--interval", "1s");
        ok("sync", "add", "s2", "--nodes", "a,b", "--tables", "u", "--interval", "1s");
        engine = InProcessEngine.start(control);
    }

    @AfterAll
    void stop() {
        try (PgServer x = a; PgServer y = b; PgServer z = c; InProcessEngine e = engine) {
            // closed in reverse order
        }
    }

    @Test
    @Order(1)
    void badInputIsRefusedAndChangesNothing() {
        refused("nosuch", "sync", "add-node", "nosuch", "c", "--copy-from", "a");
        refused("nosuch", "sync", "add-node", "s", "nosuch", "--copy-from", "a");
        refused("already in sync s", "sync", "add-node", "s", "b", "--copy-from", "a");
        refused("--copy-from x", "sync", "add-node", "s", "c", "--copy-from", "x");
        refused("--copy-from", "sync", "add-node", "s", "c");
        c.execute("postgres", "alter table t add column extra int");
        refused("extra", "sync", "add-node", "s", "c", "--copy-from", "a");
        c.execute("postgres", "alter table t drop column extra", "alter table p rename to p_elsewhere");
        refused("public.p does not exist on node c", "sync", "add-node", "s", "c", "--copy-from", "a");
        c.execute("postgres", "alter table p_elsewhere rename to p");
        assertTrue(run("sync", "add-node", "--help").out().contains("--copy-from"));
    }

    @Test
    @Order(2)
    void aNodeAddedWhileEveryNodeWritesConvergesWithNothingLost() {
        Map<String, Writer> writers = new HashMap<>();
        writers.put("a", new Writer(a, 1_000_000));
        writers.put("b", new Writer(b, 2_000_000));
        writers.put("c", new Writer(c, 3_000_000));
        JsonNode added;
        try {
            Await.until("every writer to commit some rows", SETTLE, () -> writers.values().stream().allMatch(w -> w.acked.get() > 20));
            added = ok("sync", "add-node", "s", "c", "--copy-from", "a", "--json").json();
            long joined = System.nanoTime();
            writers.get("c").joinedAt = joined;
            Await.until("c to commit rows after its copy", SETTLE, () -> writers.get("c").acked.get() > writers.get("c").ackedAtJoin + 60);
        } finally {
            writers.values().forEach(Writer::close);
        }
        writers.values().forEach(Writer::check);
        assertEquals(3, added.path("ordinal").asInt(), added::toString);
        assertEquals(2, added.path("tables").size(), added::toString);
        assertTrue(added.path("rows").asLong() >= BIG + 200, added::toString);

        Await.until("a, b and c to converge with every write acknowledged", SETTLE, () -> {
            String digest = digest(a);
            return digest.equals(digest(b)) && digest.equals(digest(c)) && writers.values().stream().allMatch(w -> w.presentIn(rows(a)));
        });
        Map<List<String>, String> onA = rows(a);
        for (Map.Entry<List<String>, String> e : onA.entrySet()) {
            String v = e.getValue();
            assertTrue(v.equals("seed") || writers.values().stream().anyMatch(w -> w.written.contains(v)), "row " + e.getKey() + ": " + v);
        }
        for (PgServer n : List.of(a, b, c)) {
            assertEquals(n.count("postgres", "select count(distinct id) from t"), n.count("postgres", "select count(*) from t"));
            assertEquals(0, n.count("postgres", "select count(*) from t where id >= 900000 and id < 1000000"),
                    "c's rows from before its copy survived on " + n.name());
        }
        assertTrue(writers.get("c").afterJoin() > 0, "no write of c after its copy was checked");
        assertEquals("{}", ok("sync", "list", "--json").json().get(0).path("resyncNeeded").toString(), "c still marked as joining");

        // a concurrent write to one key on the new node and on an old one: latest wins, journaled
        ok("sync", "pause", "s");
        a.execute("postgres", "update t set v = 'a concurrent' where id = 25");
        c.execute("postgres", "update t set v = 'c concurrent, later' where id = 25");
        ok("sync", "resume", "s");
        Await.until("the later write on every node", SETTLE, () -> List.of(a, b, c).stream()
                .allMatch(n -> n.count("postgres", "select count(*) from t where id = 25 and v = 'c concurrent, later'") == 1));
        assertEquals(List.of(List.of("c")), c.rows("ibex_control", "select winner_node from ibex.conflict where sync_name = 's' "
                + "and table_name = 't' and row_key = '[\"25\"]'"));
        // and c's later writes (a vector one position longer than the old members had) replicate both ways
        c.execute("postgres", "insert into p values (9, 9, 'c after the join')");
        b.execute("postgres", "update p set v = 'b after the join' where g = 2 and k = 3");
        Await.until("writes after the join everywhere", SETTLE, () -> List.of(a, b, c).stream()
                .allMatch(n -> n.count("postgres", "select count(*) from p where (g, k, v) in ((9, 9, 'c after the join'), "
                        + "(2, 3, 'b after the join'))") == 2));
    }

    /**
     * Issue 14: ordinals are never reused. x joins s2 and changes a row that reaches b while a is
     * down; x is removed; y joins from a, which lacks x's change, and changes the row too. With x's
     * ordinal y's change would carry the same version as x's on b and one of them would be lost;
     * with a fresh ordinal they are concurrent and the later one wins everywhere.
     */
    @Test
    @Order(3)
    void aNodeAddedAfterARemovalGetsAFreshOrdinalAndItsChangesReplicate() {
        IbexCli.Result text = ok("sync", "add-node", "s2", "x", "--copy-from", "a");
        assertTrue(text.out().contains("node x added to sync s2: 1 table(s), 1 rows copied from a in "), text::toString);
        assertEquals(List.of(List.of("x", "3")), ordinals("s2", "x"));
        Await.until("u on x", SETTLE, () -> c.count("x", "select count(*) from u where v = 'orig'") == 1);
        a.stop();
        try {
            c.execute("x", "update u set v = 'x while a is down' where id = 1");
            Await.until("x's change on b", SETTLE, () -> b.count("postgres", "select count(*) from u where v = 'x while a is down'") == 1);
            IbexCli.Result removed = run("sync", "remove-node", "s2", "x");
            assertEquals(0, removed.code(), removed::toString);
            ok("sync", "pause", "s2");
        } finally {
            a.restart();
        }
        assertEquals("orig", a.rows("postgres", "select v from u where id = 1").get(0).get(0));
        // as control migration V5 would have counted had x been removed before it existed: the widest
        // version vector in the members' ledgers (b's holds x's change at position 3) still rules 3 out
        c.execute("ibex_control", "update ibex.sync set next_ordinal = 3 where name = 's2'");
        JsonNode added = ok("sync", "add-node", "s2", "y", "--copy-from", "a", "--json").json();
        assertEquals(4, added.path("ordinal").asInt(), added::toString);
        assertEquals(List.of(List.of("y", "4")), ordinals("s2", "y"));
        assertEquals(List.of(List.of("5")), c.rows("ibex_control", "select next_ordinal::text from ibex.sync where name = 's2'"));
        c.execute("y", "update u set v = 'y after joining' where id = 1");
        ok("sync", "resume", "s2");
        Await.until("y's later change on a, b and y", SETTLE, () -> a.count("postgres", "select count(*) from u where v = 'y after joining'") == 1
                && b.count("postgres", "select count(*) from u where v = 'y after joining'") == 1
                && c.count("y", "select count(*) from u where v = 'y after joining'") == 1);
        c.execute("y", "insert into u values (2, 'y new row')");
        Await.until("y's new row on a and b", SETTLE, () -> a.count("postgres", "select count(*) from u where id = 2") == 1
                && b.count("postgres", "select count(*) from u where id = 2") == 1);
    }

    /** A crash between joining and the end of the copy leaves the node marked: resync and remove-node both work from there. */
    @Test
    @Order(4)
    void aNodeLeftJoiningByACrashCanBeResyncedOrRemoved() {
        try (var store = dev.ibex.engine.config.ControlStore.open(control, null)) {
            store.syncs().addNode("s2", "z", "joining: copy from a in progress (the command crashed)");
        }
        JsonNode status = ok("sync", "list", "--json").json();
        assertTrue(status.toString().contains("the command crashed"), status::toString);
        ok("node", "resync", "z", "--sync", "s2", "--from", "a");
        Await.until("u on z", SETTLE, () -> c.count("z", "select count(*) from u where v = 'y after joining'") == 1);
        c.execute("z", "insert into u values (3, 'z after its resync')");
        Await.until("z's row on a", SETTLE, () -> a.count("postgres", "select count(*) from u where id = 3") == 1);

        try (var store = dev.ibex.engine.config.ControlStore.open(control, null)) {
            store.syncs().addNode("s2", "x", "joining: copy from a in progress (the command crashed)");
        }
        IbexCli.Result removed = run("sync", "remove-node", "s2", "x");
        assertEquals(0, removed.code(), removed::toString);
        assertEquals(List.of(), ordinals("s2", "x"));
        assertEquals(List.of(List.of("7")), c.rows("ibex_control", "select next_ordinal::text from ibex.sync where name = 's2'"));
    }

    /**
     * A copy that fails half-way (a row the node's CHECK constraint refuses) rolls the node back and
     * takes it out of the sync again (exit 1, one line); an unreachable node is exit 1 with nothing changed.
     */
    @Test
    @Order(6)
    void aFailedCopyLeavesTheNodeAsItWasAndOutOfTheSync() {
        c.createDatabase("w");
        c.execute("w", "create table u (id bigint primary key, v text check (v <> 'y after joining'))", "insert into u values (42, 'w own')");
        ok("node", "add", "w", "--url", c.jdbcUrl("w"));
        String members = c.rows("ibex_control", "select node_name, ordinal::text from ibex.sync_node where sync_name = 's2' order by 1").toString();
        IbexCli.Result r = run("sync", "add-node", "s2", "w", "--copy-from", "a");
        assertEquals(1, r.code(), r::toString);
        List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), r::toString);
        assertTrue(lines.get(0).startsWith("ibex: adding node w to sync s2 failed: ") && lines.get(0).contains("taken out of the sync again"),
                r::toString);
        assertFalse(r.hasStackTrace(), r::toString);
        assertEquals(members, c.rows("ibex_control", "select node_name, ordinal::text from ibex.sync_node where sync_name = 's2' order by 1")
                .toString());
        assertEquals(List.of(List.of("42", "w own")), c.rows("w", "select id::text, v from u"));
        assertEquals(0, c.count("w", "select count(*) from pg_trigger where tgname like 'ibex%'"), "capture left on w");
        assertEquals(0, c.count("w", "select count(*) from ibex.capture"), "capture rows left on w");

        c.execute("postgres", "drop database w with (force)");
        String before = state();
        IbexCli.Result gone = run("sync", "add-node", "s2", "w", "--copy-from", "a");
        assertEquals(1, gone.code(), gone::toString);
        assertEquals(1, gone.err().lines().filter(l -> !l.isBlank()).count(), gone::toString);
        assertTrue(gone.err().startsWith("ibex: ") && gone.err().contains("nothing changed"), gone::toString);
        assertEquals(before, state());
    }

    /**
     * The node's writes around its copy, made deterministic with locks: one committed before the
     * copy took its locks is replaced by the copy; one that waited for the copy is captured and
     * replicated after it.
     */
    @Test
    @Order(7)
    void writesTheNodeTakesDuringItsCopyWaitAndReplicateAfterIt() throws Exception {
        c.createDatabase("v");
        c.execute("v", "create table u (id bigint primary key, v text)", "insert into u values (100, 'v before')");
        ok("node", "add", "v", "--url", c.jdbcUrl("v"));
        String waiting = "select count(*) from pg_locks l join pg_class r on r.oid = l.relation where r.relname = 'u' and not l.granted "
                + "and l.mode = ";
        AtomicReference<IbexCli.Result> added = new AtomicReference<>();
        AtomicReference<Throwable> waiterFailed = new AtomicReference<>();
        Thread adder;
        Thread waiter;
        try (Connection early = c.connect("v")) {
            early.setAutoCommit(false);
            early.createStatement().execute("insert into u values (101, 'v early')");
            adder = new Thread(() -> added.set(run("sync", "add-node", "s2", "v", "--copy-from", "a")), "add-node");
            adder.start();
            Await.until("the copy to wait for the early write's lock", SETTLE, () -> c.count("v", waiting + "'ExclusiveLock'") == 1);
            waiter = new Thread(() -> {
                try (Connection w = c.connect("v")) {
                    w.createStatement().execute("insert into u values (102, 'v waited') on conflict (id) do update set v = excluded.v");
                    w.createStatement().execute("update u set v = 'v after its copy' where id = 1");
                } catch (SQLException e) {
                    waiterFailed.set(e);
                }
            }, "waiting writer");
            waiter.start();
            Await.until("a write to wait behind the copy", SETTLE, () -> c.count("v", waiting + "'RowExclusiveLock'") == 1);
            early.commit();
        }
        adder.join(SETTLE.toMillis());
        waiter.join(SETTLE.toMillis());
        assertNull(waiterFailed.get());
        assertEquals(0, added.get().code(), added.get()::toString);
        Await.until("the waiting writes on a and b", SETTLE, () -> List.of(a, b).stream().allMatch(n ->
                n.count("postgres", "select count(*) from u where (id, v) in ((102, 'v waited'), (1, 'v after its copy'))") == 2));
        for (PgServer n : List.of(a, b)) {
            assertEquals(0, n.count("postgres", "select count(*) from u where id in (100, 101)"), "v's rows from before its copy on " + n.name());
        }
        assertEquals(0, c.count("v", "select count(*) from u where id in (100, 101)"), "v's rows from before its copy survived the copy");
    }

    /**
     * A sync of a table keyed by a unique index (no primary key) and a partitioned table: the copy
     * takes both (every partition), writes during and after it on every member replicate, and rows
     * the new node writes afterwards land in the right partitions everywhere.
     */
    @Test
    @Order(8)
    void aNodeJoinsASyncOfAUniqueKeyedAndAPartitionedTable() {
        String ddl1 = "create table uk (code text not null, v text, constraint uk_code_key unique (code))";
        String ddl2 = "create table m (g int not null, k int not null, v text, primary key (g, k)) partition by list (g)";
        String ddl3 = "create table m_odd partition of m for values in (1, 3, 5)";
        String ddl4 = "create table m_even partition of m for values in (0, 2, 4)";
        for (PgServer server : List.of(a, b)) {
            server.execute("postgres", ddl1, ddl2, ddl3, ddl4, "insert into uk select 'c' || g, 'seed' from generate_series(1, 500) g",
                    "insert into m select g, k, 'seed' from generate_series(0, 5) g, generate_series(1, 100) k");
        }
        c.createDatabase("q");
        c.execute("q", ddl1, ddl2, ddl3, ddl4);
        ok("node", "add", "q", "--url", c.jdbcUrl("q"));
        ok("sync", "add", "s3", "--nodes", "a,b", "--tables", "uk,m", "--interval", "1s");
        a.execute("postgres", "update uk set v = 'a during' where code in ('c1', 'c2')", "update m set v = 'a during' where k = 1");
        b.execute("postgres", "update m set g = 4, k = 500 where g = 3 and k = 2", "insert into uk values ('b new', 'b during')");
        IbexCli.Result added = ok("sync", "add-node", "s3", "q", "--copy-from", "b");
        assertTrue(added.out().contains("node q added to sync s3: 2 table(s)"), added::toString);
        c.execute("q", "insert into m values (5, 1000, 'q after')", "update m set g = 0, k = 600 where g = 1 and k = 3",
                "update uk set v = 'q after' where code = 'c3'");
        a.execute("postgres", "insert into m values (2, 1000, 'a after')");
        String rows = "select 'uk', code, v from uk union all select tableoid::regclass::text, g || ',' || k, v from m";
        Await.until("a, b and q equal with every write", SETTLE, () -> {
            Set<List<String>> onA = Set.copyOf(a.rows("postgres", rows));
            return onA.equals(Set.copyOf(b.rows("postgres", rows))) && onA.equals(Set.copyOf(c.rows("q", rows)))
                    && onA.containsAll(List.of(List.of("m_odd", "5,1000", "q after"), List.of("m_even", "2,1000", "a after"),
                    List.of("m_even", "0,600", "seed"), List.of("m_even", "4,500", "seed"), List.of("uk", "c3", "q after"),
                    List.of("uk", "b new", "b during"), List.of("uk", "c1", "a during"), List.of("m_odd", "1,1", "a during")));
        });
        assertEquals(0, a.count("postgres", "select count(*) from m where (g, k) in ((1, 3), (3, 2))"), "moved rows left their partitions");
    }

    /** Control migration V5 gives each existing sync the ordinal after its members' highest. */
    @Test
    @Order(5)
    void theOrdinalCounterIsBackfilledFromTheMembers() {
        c.createDatabase("control_v4");
        String url = c.jdbcUrl("control_v4");
        var ds = new org.postgresql.ds.PGSimpleDataSource();
        ds.setUrl(url);
        org.flywaydb.core.Flyway.configure().dataSource(ds).locations("classpath:db/control").schemas("ibex").createSchemas(true)
                .table("ibex_schema_history").target("4").load().migrate();
        c.execute("control_v4", "insert into ibex.node (name, url) values ('n1', 'jdbc:postgresql://h/d'), ('n2', 'jdbc:postgresql://h/d'), "
                        + "('n3', 'jdbc:postgresql://h/d')",
                "insert into ibex.sync (name) values ('gap'), ('plain')",
                "insert into ibex.sync_node (sync_name, node_name, ordinal) values ('gap', 'n1', 1), ('gap', 'n3', 3), "
                        + "('plain', 'n1', 1), ('plain', 'n2', 2)");
        try (var store = dev.ibex.engine.config.ControlStore.open(url, null)) {
            assertTrue(store.migrate() >= 1, "V5 (and the control migrations after it) applied");
            assertEquals(4, store.syncs().nextOrdinal("gap"));
            assertEquals(3, store.syncs().nextOrdinal("plain"));
        }
    }

    /**
     * Writes on one node until closed, in autocommit: inserts rows of its own in t (ids from
     * {@code base} up), updates some of them, and upserts rows every writer shares: t's ids 1..20
     * and p's keys. Remembers the last acknowledged value of each own row, when it was acknowledged,
     * and every value written.
     */
    private static final class Writer implements AutoCloseable {
        final Map<Long, String> own = new ConcurrentHashMap<>();
        final Map<Long, Long> ownAckedAt = new ConcurrentHashMap<>();
        final Set<String> written = ConcurrentHashMap.newKeySet();
        final java.util.concurrent.atomic.AtomicLong acked = new java.util.concurrent.atomic.AtomicLong();
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        final Thread thread;
        final boolean joining;
        volatile long joinedAt = Long.MAX_VALUE;
        volatile long ackedAtJoin;
        volatile boolean stop;

        Writer(PgServer server, long base) {
            joining = base == 3_000_000;
            thread = new Thread(() -> write(server, base), "writer-" + server.name());
            thread.start();
        }

        private void write(PgServer server, long base) {
            try (Connection conn = server.connect("postgres");
                 PreparedStatement t = conn.prepareStatement("insert into t values (?, ?) on conflict (id) do update set v = excluded.v");
                 PreparedStatement p = conn.prepareStatement("insert into p values (?, ?, ?) on conflict (g, k) do update set v = excluded.v")) {
                long next = base;
                for (int i = 0; !stop; i++) {
                    String v = server.name() + "-" + i;
                    written.add(v);
                    long id = -1;
                    if (i % 4 == 3) {
                        p.setInt(1, 1 + i % 5);
                        p.setInt(2, (i * 7) % 40);
                        p.setString(3, v);
                        p.executeUpdate();
                    } else {
                        id = switch (i % 4) {
                            case 0 -> next++;
                            case 1 -> next == base ? next++ : base + (i * 7L) % (next - base);
                            default -> 1 + i % 20;
                        };
                        t.setLong(1, id);
                        t.setString(2, v);
                        t.executeUpdate();
                    }
                    long now = System.nanoTime();
                    if (id >= base) {
                        own.put(id, v);
                        ownAckedAt.put(id, now);
                    }
                    if (joinedAt == Long.MAX_VALUE) {
                        ackedAtJoin = acked.get() + 1;
                    }
                    acked.incrementAndGet();
                    LockSupport.parkNanos(Duration.ofMillis(3).toNanos());
                }
            } catch (SQLException | RuntimeException e) {
                failure.set(e);
            }
        }

        /** Own rows this writer's node must show: all of them, on the joining node those last written after its copy. */
        private Map<Long, String> checked() {
            Map<Long, String> out = new HashMap<>();
            own.forEach((id, v) -> {
                if (!joining || ownAckedAt.get(id) > joinedAt) {
                    out.put(id, v);
                }
            });
            return out;
        }

        long afterJoin() {
            return checked().size();
        }

        boolean presentIn(Map<List<String>, String> rows) {
            return checked().entrySet().stream().allMatch(e -> e.getValue().equals(rows.get(List.of("t", e.getKey().toString()))));
        }

        void check() {
            assertNull(failure.get(), () -> "a writer failed: " + failure.get());
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

    /** Every row of t and p, by table and key. */
    private static Map<List<String>, String> rows(PgServer server) {
        Map<List<String>, String> out = new HashMap<>();
        server.rows("postgres", "select 't', id::text, v from t union all select 'p', g || ',' || k, v from p")
                .forEach(r -> out.put(List.of(r.get(0), r.get(1)), r.get(2)));
        return out;
    }

    /** A digest of every row of t and p. */
    private static String digest(PgServer server) {
        return server.rows("postgres", "select md5(string_agg(x, ',' order by x)) from (select 't' || id || ':' || v x from t "
                + "union all select 'p' || g || ',' || k || ':' || v from p) r").get(0).get(0);
    }

    private List<List<String>> ordinals(String sync, String node) {
        return c.rows("ibex_control", "select node_name, ordinal::text from ibex.sync_node where sync_name = '" + sync
                + "' and node_name = '" + node + "'");
    }

    /** A command that must be refused: exit 2, one line naming {@code badValue}, and nothing changed anywhere. */
    private void refused(String badValue, String... args) {
        String before = state();
        IbexCli.Result r = run(args).requireRefused(badValue);
        assertEquals(before, state(), () -> "a refused command changed something: " + r);
    }

    /** The control database's syncs, members and purges, and Ibex's objects on node c. */
    private String state() {
        List<Object> s = new ArrayList<>();
        s.add(c.rows("ibex_control", "select sync_name, node_name, ordinal::text, coalesce(resync_reason, '') from ibex.sync_node "
                + "order by 1, 2"));
        s.add(c.rows("ibex_control", "select name, coalesce(priority, ''), next_ordinal::text from ibex.sync order by 1"));
        s.add(c.rows("ibex_control", "select id::text, nodes_left from ibex.ledger_purge order by 1"));
        s.add(c.rows("postgres", "select n.nspname, r.relname from pg_namespace n left join pg_class r on r.relnamespace = n.oid "
                + "where n.nspname = 'ibex' order by 2"));
        s.add(c.rows("postgres", "select tgrelid::regclass::text, tgname from pg_trigger where tgname like 'ibex%' order by 1, 2"));
        return s.toString();
    }

    private IbexCli.Result run(String... args) {
        return IbexCli.run(IbexCli.concat(List.of(args), "--control", control));
    }

    private IbexCli.Result ok(String... args) {
        return IbexCli.ok(IbexCli.concat(List.of(args), "--control", control));
    }
}
