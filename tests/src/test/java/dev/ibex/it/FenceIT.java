package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.CrashPoints;
import dev.ibex.engine.capture.LogFolder;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.RoundLocks;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.fence.Engines;
import dev.ibex.engine.fence.Fence;
import dev.ibex.engine.fence.Ownership;
import dev.ibex.engine.runtime.RoundService;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Instant;
import java.util.Optional;
import org.jooq.exception.DataAccessException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The ownership and fencing rules (ADR 0005) on real servers: a write made with an epoch that is
 * no longer the sync's fails, on a node and on the control database; taking a sync ends the
 * sessions of older epochs that hold it up; epochs only grow; a standalone engine leaves a sync to
 * an owner that still runs; a former owner's round fails before it writes anything.
 */
class FenceIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b");

    private static Ownership ownership() {
        return new Ownership(CLUSTER.control().dataSource());
    }

    private static String sync(String name) {
        CLUSTER.execAll("create table " + name + " (id integer primary key, v text)",
                "insert into " + name + " select g, 'init' from generate_series(1, 10) g");
        CLUSTER.addSync(name, TableRef.parse(name));
        return name;
    }

    private static Fence take(String sync, String engine) {
        return ownership().take(sync, engine, other -> false).orElseThrow();
    }

    @Test
    void aStaleEpochCommitsNothingOnANodeOrOnTheControlDatabase() throws SQLException {
        String sync = sync("fence_stale");
        Fence old = take(sync, "old");
        Fence now = take(sync, "new");
        assertTrue(now.epoch() > old.epoch(), "each take raises the epoch");
        try (Connection a = CLUSTER.connect("a")) {
            assertEquals(0, now.take(a, "a"), "nothing of an older owner to end");
            a.setAutoCommit(false);
            SQLException refused = assertThrows(SQLException.class, () -> old.check(a));
            assertEquals(Fence.REJECTED, refused.getSQLState());
            assertTrue(refused.getMessage().contains("fenced"), refused.getMessage());
            a.rollback();
            now.check(a);
            try (Statement s = a.createStatement()) {
                s.execute("update fence_stale set v = 'by the owner' where id = 1");
            }
            a.commit();
        }
        ControlStore control = CLUSTER.control();
        DataAccessException refused = assertThrows(DataAccessException.class,
                () -> control.dsl().transaction(cfg -> ControlStore.fenced(cfg, old)));
        assertTrue(Fence.rejected(refused), refused.getMessage());
        control.dsl().transaction(cfg -> ControlStore.fenced(cfg, now));
    }

    @Test
    void aFormerOwnersFoldIsRefusedWhetherOrNotItHasAnythingToFold() throws SQLException {
        String sync = sync("fence_fold");
        Fence old = take(sync, "old");
        Fence now = take(sync, "new");
        NodeId a = CLUSTER.control().syncs().get(sync).nodes().stream().filter(n -> n.name().equals("a")).findFirst().orElseThrow();
        String ledger = "ibex." + TableRef.parse("fence_fold").ledgerName();
        try (Connection c = CLUSTER.connect("a")) {
            now.take(c, "a");
            // an idle fold takes no lock and writes nothing, but still checks the epoch
            assertThrows(Fence.Rejected.class, () -> LogFolder.fold(c, a, old), "a fold with nothing to fold");
            CLUSTER.exec("a", "update fence_fold set v = 'changed' where id = 1");
            assertThrows(Fence.Rejected.class, () -> LogFolder.fold(c, a, old), "a fold with a change to fold");
            assertEquals(0L, CLUSTER.count("a", "select count(*) from " + ledger), "the former owner folded nothing");
            LogFolder.Fold f = LogFolder.fold(c, a, now);
            assertEquals(1L, f.keys(), "the owner folds the change");
            assertEquals(1L, CLUSTER.count("a", "select count(*) from " + ledger));
            assertEquals(0L, LogFolder.fold(c, a, now).keys(), "folded once");
        }
    }

    @Test
    void takingASyncEndsTheFormerOwnersTransactionThatHoldsItsFence() throws SQLException {
        String sync = sync("fence_held");
        Fence old = take(sync, "old");
        try (Connection stale = CLUSTER.connect("a"); Connection next = CLUSTER.connect("a"); Connection app = CLUSTER.connect("a")) {
            old.take(stale, "a");
            stale.setAutoCommit(false);
            old.check(stale);
            try (Statement s = stale.createStatement()) {
                s.execute("update fence_held set v = 'stale owner' where id = 2");
            }
            // the former owner now stops responding with its transaction open (paused, cut off)
            Fence now = take(sync, "new");
            assertEquals(1, now.take(next, "a"), "the stale transaction was ended");
            assertThrows(SQLException.class, stale::commit, "the stale owner's commit fails");
            try (Statement s = app.createStatement()) {
                s.execute("set statement_timeout = '5s'");
                assertEquals(1, s.executeUpdate("update fence_held set v = 'application' where id = 2"),
                        "the row it held is free for applications again");
            }
            assertEquals(0L, CLUSTER.count("a", "select count(*) from fence_held where v = 'stale owner'"));
        }
    }

    @Test
    void takingASyncEndsTheRoundLockSessionOfItsFormerOwner() {
        String sync = sync("fence_lock");
        Fence old = take(sync, "old");
        ControlStore control = CLUSTER.control();
        Optional<RoundLocks.RoundLock> held = control.rounds().tryLock(old);
        assertTrue(held.isPresent());
        Fence now = take(sync, "new");
        Optional<RoundLocks.RoundLock> mine = control.rounds().tryLock(now);
        assertTrue(mine.isPresent(), "the former owner's session that held the round lock was ended");
        mine.get().close();
        held.get().close();
        assertTrue(control.rounds().tryLock(sync).isPresent(), "free again");
    }

    @Test
    void epochsOnlyGrowAndReleasingKeepsTheEpoch() throws SQLException {
        String sync = sync("fence_grow");
        Ownership ownership = ownership();
        Fence first = take(sync, "one");
        ownership.release(first);
        Ownership.Owner released = ownership.owner(sync).orElseThrow();
        assertEquals(null, released.engine(), "no owner once released");
        assertEquals(first.epoch(), released.epoch(), "releasing keeps the epoch");
        Fence second = take(sync, "two");
        assertTrue(second.epoch() > first.epoch());
        ownership.release(first);
        assertEquals("two", ownership.owner(sync).orElseThrow().engine(), "a former owner's release changes nothing");
        try (Connection b = CLUSTER.connect("b")) {
            second.take(b, "b");
            assertThrows(Fence.Rejected.class, () -> first.take(b, "b"), "a node never goes back to an older epoch");
            assertEquals(second.epoch(), CLUSTER.count("b", "select epoch from ibex.sync_fence where sync_name = ?", sync));
        }
    }

    @Test
    void aSyncRemovedAndAddedAgainIsTakenAboveTheEpochsItsNodesStillHold() throws SQLException {
        String sync = sync("fence_again");
        Fence before = take(sync, "first");
        try (Connection a = CLUSTER.connect("a")) {
            before.take(a, "a");
        }
        CLUSTER.control().syncs().remove(sync);
        CLUSTER.addSync(sync, TableRef.parse(sync));
        Fence again = take(sync, "second");
        assertTrue(again.epoch() > before.epoch(), "epochs continue across the sync's removal: " + before + " then " + again);
        try (Connection a = CLUSTER.connect("a")) {
            again.take(a, "a");
            a.setAutoCommit(false);
            again.check(a);
            a.commit();
        }
    }

    @Test
    void aStandaloneEngineLeavesASyncToAnOwnerThatStillRuns() {
        String sync = sync("fence_alive");
        Engines engines = new Engines(CLUSTER.control().dataSource());
        engines.heartbeat("alive", null, "up", "test", Instant.now());
        take(sync, "alive");
        assertTrue(ownership().take(sync, "other", engines::running).isEmpty(), "its owner's heartbeat is recent");
        CLUSTER.control().dsl().execute("update ibex.engine set heartbeat_at = now() - interval '1 minute' where name = 'alive'");
        Optional<Fence> taken = ownership().take(sync, "other", engines::running);
        assertTrue(taken.isPresent(), "an owner silent for a minute no longer runs it");
        engines.heartbeat("other", null, "stopped", "test", Instant.now());
        assertTrue(ownership().take(sync, "third", engines::running).isPresent(), "nor does one that says it stopped");
    }

    @Test
    void aRoundTakenOverBetweenItsDecisionsAndItsApplyCommitsNothingMore() {
        String sync = sync("fence_midround");
        RoundService former = new RoundService(CLUSTER.control(), new dev.ibex.engine.db.NodeDirectory(CLUSTER.control().nodes()::get),
                Clock.systemUTC());
        Fence old = former.ownership().take(sync, "former", other -> false).orElseThrow();
        assertTrue(former.runIfActive(old).isPresent(), "its owner runs a round: every node at its epoch");
        CLUSTER.exec("a", "update fence_midround set v = 'decided, then taken over' where id = 4");
        long marks = CLUSTER.count("b", "select count(*) from ibex.watermark");
        // a successor takes the sync, and every node, while the former owner's round has decided a chunk and not applied it
        CrashPoints.at(CrashPoints.JOURNAL_WRITTEN, () -> {
            Fence now = take(sync, "successor");
            for (String node : CLUSTER.nodes()) {
                try (Connection c = CLUSTER.connect(node)) {
                    now.take(c, node);
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            }
        });
        try {
            Fence.Rejected refused = assertThrows(Fence.Rejected.class, () -> former.runIfActive(old));
            assertTrue(refused.getMessage().contains("fenced"), refused.getMessage());
        } finally {
            CrashPoints.clear();
        }
        assertEquals(0L, CLUSTER.count("b", "select count(*) from fence_midround where v = 'decided, then taken over'"),
                "the apply transaction's fence check refused the chunk");
        assertEquals(marks, CLUSTER.count("b", "select count(*) from ibex.watermark"), "no watermark moved");
    }

    @Test
    void aRoundOfAFormerOwnerFailsBeforeItWritesAnything() {
        String sync = sync("fence_round");
        RoundService former = new RoundService(CLUSTER.control(), new dev.ibex.engine.db.NodeDirectory(CLUSTER.control().nodes()::get),
                Clock.systemUTC());
        Fence old = former.ownership().take(sync, "former", other -> false).orElseThrow();
        assertTrue(former.runIfActive(old).isPresent(), "its owner runs a round");
        Fence now = take(sync, "successor");
        CLUSTER.exec("a", "update fence_round set v = 'changed' where id = 3");
        int rounds = CLUSTER.control().dsl().fetchCount(org.jooq.impl.DSL.table("ibex.round"), org.jooq.impl.DSL.field("sync_name").eq(sync));
        Fence.Rejected refused = assertThrows(Fence.Rejected.class, () -> former.runIfActive(old));
        assertTrue(refused.getMessage().contains("epoch " + now.epoch()), refused.getMessage());
        assertEquals(rounds, CLUSTER.control().dsl().fetchCount(org.jooq.impl.DSL.table("ibex.round"),
                org.jooq.impl.DSL.field("sync_name").eq(sync)), "no round recorded");
        assertEquals(0L, CLUSTER.count("b", "select count(*) from fence_round where v = 'changed'"), "nothing applied");
        assertFalse(Fence.rejected(new IllegalStateException("unrelated")));
    }
}
