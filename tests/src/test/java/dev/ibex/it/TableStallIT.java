package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.round.RoundReport;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A failing table stalls only itself: when its columns drift on one node, when it is dropped on
 * one node, or when a node rejects a row (a CHECK constraint only there), the round pauses that
 * table with a reason naming the node and the difference, or the key and the error; the sync's
 * other tables keep replicating; after the schema is made equal, resuming the table replicates
 * everything written meanwhile.
 */
class TableStallIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b");

    @Test
    void aColumnAddedOnOneNodePausesThatTableUntilResumed() {
        TableRef drift = table("drift");
        TableRef other = table("steady");
        CLUSTER.addSync("drift", drift, other);

        CLUSTER.exec("a", "alter table drift add column extra integer");
        CLUSTER.exec("a", "update drift set v = 'a while drifted' where id = 1", "update steady set v = 'a' where id = 1");
        RoundReport r = CLUSTER.round("drift");

        TableSettings paused = settings("drift", drift);
        assertTrue(paused.paused(), "the drifted table is paused");
        assertTrue(paused.pauseReason().contains("\"extra\"") && paused.pauseReason().contains("node a"), paused.pauseReason());
        assertTrue(r.errors().stream().anyMatch(e -> e.contains("paused")), r.errors().toString());
        assertFalse(settings("drift", other).paused());
        assertEquals(List.of(List.of("a")), CLUSTER.rows("b", "select v from steady where id = 1"), "the other table replicates");
        assertEquals(List.of(List.of("init")), CLUSTER.rows("b", "select v from drift where id = 1"));
        assertEquals("paused", CLUSTER.status("drift").tables().stream().filter(t -> t.table().equals("public.drift"))
                .map(t -> t.paused() ? "paused" : "active").findFirst().orElseThrow());

        CLUSTER.settle("drift");
        CLUSTER.exec("a", "update drift set v = 'a while paused' where id = 2");
        CLUSTER.exec("b", "alter table drift add column extra integer");
        CLUSTER.control().tables().setPaused("drift", List.of(drift), false, null);
        CLUSTER.converge("drift");
        assertEquals(List.of(List.of("1", "a while drifted"), List.of("2", "a while paused"), List.of("3", "init")),
                CLUSTER.rows("b", "select id::text, v from drift order by id"), "nothing lost while paused");
    }

    @Test
    void aTypeChangedOrATableDroppedOnOneNodePausesOnlyThatTable() {
        TableRef typed = table("typed");
        TableRef dropped = table("dropped");
        TableRef other = table("fine");
        CLUSTER.addSync("shapes", typed, dropped, other);

        CLUSTER.exec("b", "alter table typed alter column v type varchar(40)", "drop table dropped");
        CLUSTER.exec("a", "update fine set v = 'a' where id = 3");
        CLUSTER.round("shapes");

        String typeReason = settings("shapes", typed).pauseReason();
        assertTrue(typeReason.contains("character varying(40) on node b"), typeReason);
        String dropReason = settings("shapes", dropped).pauseReason();
        assertTrue(dropReason.contains("does not exist on node b"), dropReason);
        assertFalse(settings("shapes", other).paused());
        assertEquals(List.of(List.of("a")), CLUSTER.rows("b", "select v from fine where id = 3"));
    }

    @Test
    void aRowRejectedByOneNodePausesTheTableWithItsKey() {
        TableRef checked = table("checked");
        CLUSTER.addSync("checked", checked);
        CLUSTER.exec("b", "alter table checked add constraint short_v check (length(v) < 10)");

        CLUSTER.exec("a", "update checked set v = 'ok' where id = 1", "update checked set v = 'far too long for b' where id = 2",
                "update checked set v = 'ok too' where id = 3");
        CLUSTER.round("checked");

        TableSettings paused = settings("checked", checked);
        assertTrue(paused.paused());
        assertTrue(paused.pauseReason().contains("key [2]") && paused.pauseReason().contains("short_v")
                && paused.pauseReason().contains("node b"), paused.pauseReason());

        CLUSTER.exec("b", "alter table checked drop constraint short_v");
        CLUSTER.control().tables().setPaused("checked", List.of(checked), false, null);
        CLUSTER.converge("checked");
        assertEquals(List.of(List.of("far too long for b")), CLUSTER.rows("b", "select v from checked where id = 2"));
    }

    private static TableRef table(String name) {
        CLUSTER.execAll("create table " + name + " (id integer primary key, v text)",
                "insert into " + name + " values (1, 'init'), (2, 'init'), (3, 'init')");
        return new TableRef("public", name);
    }

    private static TableSettings settings(String sync, TableRef t) {
        return CLUSTER.control().syncs().get(sync).tables().stream().filter(x -> x.table().equals(t)).findFirst().orElseThrow();
    }
}
