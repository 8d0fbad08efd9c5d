package dev.ibex.engine.journal;

import static dev.ibex.schema.control.jooq.Tables.ROUND;
import static dev.ibex.schema.control.jooq.Tables.SYNC_NODE;
import static dev.ibex.schema.control.jooq.Tables.SYNC_STATE;

import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.fence.Fence;
import dev.ibex.engine.round.NodeRound;
import dev.ibex.engine.round.RoundOutcome;
import dev.ibex.engine.round.RoundReport;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Optional;
import org.jooq.DSLContext;
import org.jooq.impl.DSL;

/**
 * Round history and each sync's current state (last error, consecutive failures, per-node report)
 * in the control database; what {@code ibex status} shows.
 */
public final class RoundHistory {
    private final DSLContext dsl;

    public RoundHistory(DSLContext dsl) {
        this.dsl = dsl;
    }

    /** Records the round's report, in a transaction that checks {@code fence} (the sync and the epoch it is owned at). */
    public void record(RoundReport r, Fence fence) {
        String nodes = ConflictJournal.json(r.nodes());
        String error = r.problems().isEmpty() ? null : Redactor.text(String.join("; ", r.problems()));
        OffsetDateTime finished = OffsetDateTime.ofInstant(r.finished(), ZoneOffset.UTC);
        List<String> reached = r.nodes().values().stream().filter(NodeRound::reachable).map(NodeRound::node).toList();
        dsl.transaction(cfg -> {
            DSLContext tx = DSL.using(cfg);
            // one batch, one round trip with the transaction's start (then the commit): the round's row
            // is inserted from the fence's check (ibex.fence, which fails when another engine owns the
            // sync), so nothing is written unless it passes. A report, not a decision, so the next
            // round need not wait for its flush to disk either (an OS crash may lose the last reports;
            // every round's effects are in the nodes' own commits)
            tx.batch(tx.query("set local synchronous_commit = off"),
                    tx.insertInto(ROUND, ROUND.SYNC_NAME, ROUND.STARTED_AT, ROUND.FINISHED_AT, ROUND.OUTCOME, ROUND.ROWS_READ,
                                    ROUND.ROWS_APPLIED, ROUND.CONFLICTS, ROUND.NODE_REPORT, ROUND.ERROR)
                            .select(DSL.select(DSL.val(r.sync()), DSL.val(OffsetDateTime.ofInstant(r.started(), ZoneOffset.UTC)),
                                            DSL.val(finished), DSL.val(r.outcome().label()), DSL.val(r.keysDecided()), DSL.val(r.rowsApplied()),
                                            DSL.val(r.conflicts()), DSL.val(nodes), DSL.val(error, ROUND.ERROR))
                                    .from(DSL.table("ibex.fence({0}, {1})", DSL.val(fence.sync()), DSL.val(fence.epoch())))),
                    tx.insertInto(SYNC_STATE).set(SYNC_STATE.SYNC_NAME, r.sync()).set(SYNC_STATE.LAST_ERROR, error)
                            .set(SYNC_STATE.LAST_ERROR_AT, error == null ? null : finished)
                            .set(SYNC_STATE.CONSECUTIVE_FAILS, error == null ? 0 : 1).set(SYNC_STATE.NODE_REPORT, nodes)
                            .set(SYNC_STATE.UPDATED_AT, finished)
                            .onConflict(SYNC_STATE.SYNC_NAME).doUpdate()
                            .set(SYNC_STATE.LAST_ERROR, error == null ? SYNC_STATE.LAST_ERROR : org.jooq.impl.DSL.val(error))
                            .set(SYNC_STATE.LAST_ERROR_AT, error == null ? SYNC_STATE.LAST_ERROR_AT : org.jooq.impl.DSL.val(finished))
                            .set(SYNC_STATE.CONSECUTIVE_FAILS, error == null ? org.jooq.impl.DSL.val(0) : SYNC_STATE.CONSECUTIVE_FAILS.plus(1))
                            .set(SYNC_STATE.NODE_REPORT, nodes).set(SYNC_STATE.UPDATED_AT, finished),
                    tx.update(SYNC_NODE).set(SYNC_NODE.LAST_REACHED_AT, OffsetDateTime.ofInstant(r.started(), ZoneOffset.UTC))
                            .where(SYNC_NODE.SYNC_NAME.eq(r.sync()), SYNC_NODE.NODE_NAME.in(reached))).execute();
        });
    }

    /**
     * When a round of the sync last reached the node: the start of that round, or the time the
     * node joined the sync if no round has reached it yet. Empty for a node not in the sync.
     */
    public Optional<OffsetDateTime> lastReached(String sync, String node) {
        return dsl.select(SYNC_NODE.LAST_REACHED_AT).from(SYNC_NODE).where(SYNC_NODE.SYNC_NAME.eq(sync), SYNC_NODE.NODE_NAME.eq(node))
                .fetchOptional(SYNC_NODE.LAST_REACHED_AT);
    }

    /** Deletes rounds that finished before {@code now - retention}, keeping the last one. Returns how many. */
    public int purge(String sync, java.time.Duration retention, java.time.Instant now) {
        Long lastId = dsl.select(org.jooq.impl.DSL.max(ROUND.ID)).from(ROUND).where(ROUND.SYNC_NAME.eq(sync)).fetchOne(0, Long.class);
        if (lastId == null) {
            return 0;
        }
        return dsl.deleteFrom(ROUND).where(ROUND.SYNC_NAME.eq(sync), ROUND.ID.lt(lastId),
                ROUND.FINISHED_AT.lt(OffsetDateTime.ofInstant(now.minus(retention), ZoneOffset.UTC))).execute();
    }

    /** The last round of a sync: started, finished, outcome, rows, conflicts, node report, error. */
    public Optional<dev.ibex.schema.control.jooq.tables.records.RoundRecord> last(String sync) {
        return dsl.selectFrom(ROUND).where(ROUND.SYNC_NAME.eq(sync)).orderBy(ROUND.ID.desc()).limit(1).fetchOptional();
    }

    /** A finished round as an operator reads it: its outcome and what it did. */
    public record RoundSummary(long id, RoundOutcome outcome, long keysDecided, long rowsApplied, long conflicts, String error) {
    }

    /** The last round of a sync, if it ran any, as a plain summary. */
    public Optional<RoundSummary> lastSummary(String sync) {
        return last(sync).map(r -> new RoundSummary(r.getId(), RoundOutcome.of(r.getOutcome()), r.getRowsRead(), r.getRowsApplied(), r.getConflicts(),
                r.getError()));
    }

    public Optional<dev.ibex.schema.control.jooq.tables.records.SyncStateRecord> state(String sync) {
        return dsl.selectFrom(SYNC_STATE).where(SYNC_STATE.SYNC_NAME.eq(sync)).fetchOptional();
    }
}
