package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.round.RoundReport;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Plain multi-master replication (invariant 1, and invariant 2 for rows only one node touched):
 * inserts, updates, deletes, key updates and TRUNCATE made on any node reach every other node of
 * the sync, with exactly the rows written, and without spurious conflicts.
 */
class ReplicationIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b", "c");

    private static final List<String> TWO = List.of("a", "b");

    @Test
    void twoMastersReplicateInsertsUpdatesAndDeletesBothWays() {
        TableRef table = createAccounts("two_way", TWO);
        CLUSTER.addSync("two_way", TWO, table);

        CLUSTER.exec("a", "insert into two_way (id, balance, note) values (1, 100, 'a1'), (2, 200, 'a2'), (3, 300, 'a3')");
        CLUSTER.exec("b", "insert into two_way (id, balance, note) values (11, 1100, 'b11'), (12, 1200, 'b12'), (13, 1300, 'b13')");
        assertNoConflicts(CLUSTER.converge("two_way"));
        List<List<String>> inserted = List.of(row(1, 100, "a1"), row(2, 200, "a2"), row(3, 300, "a3"),
                row(11, 1100, "b11"), row(12, 1200, "b12"), row(13, 1300, "b13"));
        assertAccounts(TWO, "two_way", inserted);

        CLUSTER.exec("a", "update two_way set balance = 1111, note = 'a changed b11' where id = 11",
                "delete from two_way where id = 2");
        CLUSTER.exec("b", "update two_way set balance = 101, note = 'b changed a1' where id = 1",
                "delete from two_way where id = 13",
                "insert into two_way (id, balance, note) values (14, 1400, 'b14')");
        assertNoConflicts(CLUSTER.converge("two_way"));
        assertAccounts(TWO, "two_way", List.of(row(1, 101, "b changed a1"), row(3, 300, "a3"),
                row(11, 1111, "a changed b11"), row(12, 1200, "b12"), row(14, 1400, "b14")));
    }

    @Test
    void keyUpdateReplicatesAsDeleteOfTheOldKeyAndInsertOfTheNew() {
        TableRef table = createAccounts("rekey", TWO);
        for (String node : TWO) {
            CLUSTER.exec(node, "insert into rekey select g, g * 10, 'row ' || g, '2024-01-01 00:00:00+00' from generate_series(1, 5) g");
        }
        CLUSTER.addSync("rekey", TWO, table);

        CLUSTER.exec("a", "update rekey set id = id + 1000 where id <= 3");
        assertNoConflicts(CLUSTER.converge("rekey"));
        assertAccounts(TWO, "rekey", List.of(row(4, 40, "row 4"), row(5, 50, "row 5"),
                row(1001, 10, "row 1"), row(1002, 20, "row 2"), row(1003, 30, "row 3")));

        CLUSTER.exec("b", "update rekey set id = id - 1000, note = note || ' back' where id > 1000");
        assertNoConflicts(CLUSTER.converge("rekey"));
        assertAccounts(TWO, "rekey", List.of(row(1, 10, "row 1 back"), row(2, 20, "row 2 back"),
                row(3, 30, "row 3 back"), row(4, 40, "row 4"), row(5, 50, "row 5")));
    }

    @Test
    void threeMastersReplicateWritesFromEveryNode() {
        TableRef table = createAccounts("three_way", CLUSTER.nodes());
        CLUSTER.addSync("three_way", table);

        CLUSTER.exec("a", "insert into three_way (id, balance, note) values (1, 1, 'a'), (2, 2, 'a')");
        CLUSTER.exec("b", "insert into three_way (id, balance, note) values (3, 3, 'b'), (4, 4, 'b')");
        CLUSTER.exec("c", "insert into three_way (id, balance, note) values (5, 5, 'c'), (6, 6, 'c')");
        assertNoConflicts(CLUSTER.converge("three_way"));
        assertAccounts(CLUSTER.nodes(), "three_way", List.of(row(1, 1, "a"), row(2, 2, "a"), row(3, 3, "b"),
                row(4, 4, "b"), row(5, 5, "c"), row(6, 6, "c")));

        CLUSTER.exec("a", "update three_way set balance = 30, note = 'a on b row' where id = 3", "delete from three_way where id = 6");
        CLUSTER.exec("b", "update three_way set balance = 50, note = 'b on c row' where id = 5", "delete from three_way where id = 2");
        CLUSTER.exec("c", "update three_way set balance = 10, note = 'c on a row' where id = 1",
                "insert into three_way (id, balance, note) values (7, 7, 'c')");
        assertNoConflicts(CLUSTER.converge("three_way"));
        assertAccounts(CLUSTER.nodes(), "three_way", List.of(row(1, 10, "c on a row"), row(3, 30, "a on b row"),
                row(4, 4, "b"), row(5, 50, "b on c row"), row(7, 7, "c")));
    }

    @Test
    void truncateOnOneNodeDeletesTheRowsEverywhereButKeepsRowsInsertedElsewhereAfterward() {
        TableRef table = createAccounts("trunc", CLUSTER.nodes());
        CLUSTER.execAll("insert into trunc select g, g, 'old', '2024-01-01 00:00:00+00' from generate_series(1, 50) g");
        CLUSTER.addSync("trunc", table);

        CLUSTER.exec("b", "truncate trunc");
        CLUSTER.exec("c", "insert into trunc (id, balance, note) values (51, 51, 'new on c')");
        assertNoConflicts(CLUSTER.converge("trunc"));
        assertAccounts(CLUSTER.nodes(), "trunc", List.of(row(51, 51, "new on c")));
    }

    private static TableRef createAccounts(String name, List<String> nodes) {
        for (String node : nodes) {
            CLUSTER.exec(node, "create table " + name + " (id bigint primary key, balance bigint not null, note text, "
                    + "updated_at timestamptz not null default now())");
        }
        return TableRef.parse("public." + name);
    }

    private static void assertAccounts(List<String> nodes, String table, List<List<String>> expected) {
        for (String node : nodes) {
            assertEquals(expected, CLUSTER.rows(node, "select id, balance, note from " + table + " order by id"),
                    "rows of " + table + " on node " + node);
        }
    }

    private static void assertNoConflicts(List<RoundReport> rounds) {
        assertEquals(0, rounds.stream().mapToLong(RoundReport::conflicts).sum(),
                "conflicts where no row was written on two nodes: " + rounds.stream().map(Cluster::describe).toList());
    }

    private static List<String> row(long id, long balance, String note) {
        return List.of(Long.toString(id), Long.toString(balance), note);
    }
}
