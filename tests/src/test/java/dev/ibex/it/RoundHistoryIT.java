package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.round.RoundReport;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What a round's report leaves in the control database (one statement since ADR 0008): the round's
 * row, the sync's state (the last error stays after a clean round, consecutive failures count up
 * and reset), and when each member was last reached (only those the round reached).
 */
class RoundHistoryIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b").withProxies();

    private static List<String> state(String sync) {
        return CLUSTER.control().dsl().fetch("select coalesce(last_error, ''), consecutive_fails::text, "
                + "coalesce(last_error_at::text, '') from ibex.sync_state where sync_name = ?", sync)
                .map(r -> r.get(0, String.class) + "|" + r.get(1, String.class) + "|" + r.get(2, String.class)).stream()
                .findFirst().map(s -> List.of(s.split("\\|", -1))).orElse(null);
    }

    private static String lastReached(String sync, String node) {
        return CLUSTER.control().dsl().fetchValue("select last_reached_at::text from ibex.sync_node where sync_name = ? and node_name = ?",
                sync, node).toString();
    }

    @Test
    void aRoundsReportRecordsItsRowTheSyncsStateAndTheMembersItReached() {
        CLUSTER.execAll("create table history (id integer primary key, v text)",
                "insert into history select g, 'init' from generate_series(1, 10) g");
        CLUSTER.addSync("history", new TableRef("public", "history"));
        long before = CLUSTER.control().dsl().fetchCount(org.jooq.impl.DSL.table("ibex.round"), org.jooq.impl.DSL.field("sync_name").eq("history"));

        CLUSTER.exec("a", "update history set v = 'clean' where id = 1");
        RoundReport clean = CLUSTER.round("history");
        assertTrue(clean.problems().isEmpty(), clean.problems().toString());
        assertEquals(before + 1, CLUSTER.control().dsl().fetchCount(org.jooq.impl.DSL.table("ibex.round"),
                org.jooq.impl.DSL.field("sync_name").eq("history")), "one row per round");
        assertEquals(List.of("", "0", ""), state("history"), "a clean round: no error, no failure counted");
        String reachedB = lastReached("history", "b");

        CLUSTER.proxy("b").cut();
        try {
            RoundReport failed = CLUSTER.round("history");
            assertTrue(!failed.problems().isEmpty(), "b is unreachable");
            List<String> once = state("history");
            assertTrue(once.get(0).contains("b"), once.toString());
            assertEquals("1", once.get(1));
            assertNotNull(once.get(2));
            assertEquals(reachedB, lastReached("history", "b"), "b was not reached: its time stays");
            CLUSTER.round("history");
            assertEquals("2", state("history").get(1), "failures count up");
        } finally {
            CLUSTER.proxy("b").heal();
        }
        String error = state("history").get(0);
        CLUSTER.exec("a", "update history set v = 'after' where id = 2");
        // the engine probes a node it found down in the background: rounds reach b again once it answers
        dev.ibex.testkit.Await.until("a round reaches b again", java.time.Duration.ofSeconds(30),
                () -> CLUSTER.round("history").problems().isEmpty());
        List<String> now = state("history");
        assertEquals(error, now.get(0), "the last error is kept for the operator");
        assertEquals("0", now.get(1), "a clean round resets the count");
        assertTrue(lastReached("history", "b").compareTo(reachedB) > 0, "b reached again");
        assertNull(CLUSTER.control().dsl().fetchValue("select error from ibex.round where sync_name = 'history' order by id desc limit 1"));
    }
}
