package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ibex.engine.config.TableRef;
import dev.ibex.testkit.Await;
import dev.ibex.testkit.Sql;
import java.sql.Connection;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Invariant 7, no harm to applications: capture adds no lock between application transactions
 * that touch different rows, so one open transaction never holds up another writer on the same
 * node, and two transactions that would not deadlock without Ibex do not deadlock with it.
 */
class CaptureConcurrencyIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b");
    private static ExecutorService other;

    @BeforeAll
    static void createSync() {
        CLUSTER.execAll("create table cap (id bigint primary key, v text not null)",
                "insert into cap select g, 'init' from generate_series(1, 10) g");
        CLUSTER.addSync("cap", TableRef.parse("cap"));
        other = Executors.newSingleThreadExecutor();
    }

    @AfterAll
    static void stopThread() {
        other.shutdownNow();
    }

    @Test
    void openTransactionDoesNotHoldUpAWriteToAnotherRow() throws Exception {
        CLUSTER.converge("cap");
        try (Connection first = CLUSTER.connect("a"); Connection second = CLUSTER.connect("a")) {
            first.setAutoCommit(false);
            Sql.exec(first, "update cap set v = 'first' where id = 1");
            Sql.exec(second, "set statement_timeout = '3s'");
            assertDoesNotThrow(() -> Sql.exec(second, "update cap set v = 'second' where id = 2"),
                    "a write to row 2 while another transaction has written row 1 but not committed");
            first.commit();
        }
        CLUSTER.converge("cap");
        assertEquals(List.of(List.of("first"), List.of("second")), CLUSTER.rows("b", "select v from cap where id in (1, 2) order by id"));
    }

    @Test
    void transactionsThatCannotDeadlockWithoutIbexDoNotDeadlockWithIt() throws Exception {
        CLUSTER.converge("cap");
        try (Connection first = CLUSTER.connect("a"); Connection second = CLUSTER.connect("a")) {
            first.setAutoCommit(false);
            second.setAutoCommit(false);
            Sql.exec(first, "set statement_timeout = '10s'");
            Sql.exec(second, "set statement_timeout = '10s'");
            Sql.exec(first, "update cap set v = 'first' where id = 3");
            CompletableFuture<Void> secondTx = CompletableFuture.runAsync(() -> {
                Sql.exec(second, "update cap set v = 'second' where id = 4");
                Sql.exec(second, "update cap set v = 'second' where id = 5");
                commit(second);
            }, other);
            Await.until("the second transaction has committed or waits for a lock", Duration.ofSeconds(10),
                    () -> secondTx.isDone() || CLUSTER.count("a", "select count(*) from pg_stat_activity "
                            + "where datname = current_database() and wait_event_type = 'Lock'") > 0);
            assertDoesNotThrow(() -> Sql.exec(first, "update cap set v = 'first' where id = 4"),
                    "the first transaction writes row 4 after the second one did");
            first.commit();
            assertDoesNotThrow(() -> secondTx.get(20, TimeUnit.SECONDS), "the second transaction commits");
        }
        CLUSTER.converge("cap");
        assertEquals(List.of(List.of("first"), List.of("first"), List.of("second")),
                CLUSTER.rows("b", "select v from cap where id in (3, 4, 5) order by id"));
    }

    private static void commit(Connection c) {
        try {
            c.commit();
        } catch (java.sql.SQLException e) {
            throw new Sql.UncheckedSqlException("commit", e);
        }
    }
}
