package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.runtime.Engine;
import dev.ibex.testkit.Await;
import dev.ibex.testkit.Sql;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Invariant 4, exactly-once effect: the engine dies in the middle of a 20 000-row backlog, with
 * some chunks applied on the targets and others not, and a new engine converges the nodes to
 * exactly what node a wrote, with no row lost, duplicated or turned into a conflict.
 *
 * <p>The crash: as soon as node c holds part of the backlog, the test kills every session of the
 * engine on every node, which is what the databases see when the engine's process dies (open
 * apply transactions roll back, committed chunks stay), and then discards that engine.
 */
class CrashRecoveryIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b", "c");
    private static final int ROWS = 20_000;
    private static final String WRITTEN_BY_A = "select count(*) from backlog where note = 'a' || ((id - 1) / 1000) "
            + "and balance = id * (case when id % 7 = 0 then 2 else 1 end)";

    @Test
    void engineKilledMidBacklogIsReplacedAndNothingIsLostOrDuplicated() {
        CLUSTER.execAll("create table backlog (id bigint primary key, balance bigint not null, note text not null)",
                "insert into backlog select g, 0, 'init' from generate_series(1, " + ROWS + ") g");
        TableRef table = TableRef.parse("backlog");
        CLUSTER.addSync("backlog", table);
        for (int i = 0; i < ROWS / 1000; i++) {
            CLUSTER.exec("a", "update backlog set balance = balance + id, note = 'a" + i + "' where id between "
                    + (i * 1000 + 1) + " and " + (i + 1) * 1000);
        }
        CLUSTER.exec("a", "update backlog set balance = balance * 2 where id % 7 = 0");
        assertEquals(ROWS, CLUSTER.count("a", WRITTEN_BY_A));

        long killed;
        // applications hold rows 1..100 locked on b and c: the engine's applies skip them (and keep
        // their watermarks), so the engine is killed while both hold only part of the backlog
        try (Connection lockB = CLUSTER.connect("b"); Connection lockC = CLUSTER.connect("c")) {
            for (Connection c : List.of(lockB, lockC)) {
                c.setAutoCommit(false);
                Sql.exec(c, "select id from backlog where id <= 100 for update");
            }
            try (Engine engine = CLUSTER.startEngine()) {
                Await.until("node c holds part of the backlog (if never: did the engine run at all?)", Duration.ofSeconds(30),
                        () -> CLUSTER.count("c", WRITTEN_BY_A) > 0);
                killed = killEngineSessions("c") + killEngineSessions("b") + killEngineSessions("a");
            }
            lockB.rollback();
            lockC.rollback();
        } catch (SQLException e) {
            throw new Sql.UncheckedSqlException("holding rows locked", e);
        }
        long onB = CLUSTER.count("b", WRITTEN_BY_A);
        long onC = CLUSTER.count("c", WRITTEN_BY_A);
        assertTrue(killed > 0, "the engine had sessions to kill");
        assertTrue(onC > 0 && onC < ROWS, "node c had part of the backlog when the engine died: " + onC + " rows");
        assertTrue(onB < ROWS, "node b had part of the backlog when the engine died: " + onB + " rows");

        try (Engine engine = CLUSTER.startEngine()) {
            Await.until("a new engine brings b and c to what a wrote", Duration.ofSeconds(90),
                    () -> CLUSTER.count("b", WRITTEN_BY_A) == ROWS && CLUSTER.count("c", WRITTEN_BY_A) == ROWS);
        }
        CLUSTER.converge("backlog");
        for (String node : CLUSTER.nodes()) {
            assertEquals(ROWS, CLUSTER.count(node, "select count(*) from backlog"), "rows on " + node);
            assertEquals(ROWS, CLUSTER.count(node, WRITTEN_BY_A), "rows as a wrote them on " + node);
        }
        assertEquals(List.of(), CLUSTER.conflicts("backlog", table), "a crash creates no conflict");
    }

    /** Terminates every session of the engine on the node's database; returns how many. */
    private static long killEngineSessions(String node) {
        return CLUSTER.count(node, "select count(pg_terminate_backend(pid)) from pg_stat_activity "
                + "where datname = current_database() and application_name = 'ibex' and pid <> pg_backend_pid()");
    }
}
