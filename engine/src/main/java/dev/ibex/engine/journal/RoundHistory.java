package dev.ibex.engine.journal;

import static dev.ibex.schema.control.jooq.Tables.ROUND;
import static dev.ibex.schema.control.jooq.Tables.SYNC_NODE;
import static dev.ibex.schema.control.jooq.Tables.SYNC_STATE;

import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.fence.Fence;
import dev.ibex.engine.round.NodeRound;
import dev.ibex.engine.round.RoundOutcome;
import dev.ibex.engine.round.RoundReport;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Optional;
import org.jooq.DSLContext;

/**
 * Round history and each sync's current state (last error, consecutive failures, per-node report)
 * in the control database; what {@code ibex status} shows.
 */
public final class RoundHistory {
    private final DSLContext dsl;

    public RoundHistory(DSLContext dsl) {
        this.dsl = dsl;
    }

    /**
     * A round's report in one statement, so one round trip that commits on its own: the fence's
     * check (which fails when another engine owns the sync, and holds the sync's row until the
     * commit) is what every write selects from, so nothing is written unless it passes. A report,
     * not a decision: its commit is not flushed before the next round goes on (an operating-system
     * crash may lose the last reports; every round's effects are in the nodes' own commits).
     * Parameters: sync, epoch; round: started, finished, outcome, rows read, rows applied,
     * conflicts, node report, error; the nodes the round reached.
     */
    private static final String RECORD = """
            with f as (select ibex.fence(?, ?), pg_catalog.set_config('synchronous_commit', 'off', true)),
            r as (select ?::varchar as sync_name, ?::timestamptz as started_at, ?::timestamptz as finished_at, ?::varchar as outcome,
                         ?::bigint as rows_read, ?::bigint as rows_applied, ?::bigint as conflicts, ?::varchar as node_report,
                         ?::varchar as error, ?::varchar[] as reached
                    from f),
            rounds as (insert into ibex.round (sync_name, started_at, finished_at, outcome, rows_read, rows_applied, conflicts, node_report, error)
                       select sync_name, started_at, finished_at, outcome, rows_read, rows_applied, conflicts, node_report, error from r
                       returning 1),
            state as (insert into ibex.sync_state as s (sync_name, last_error, last_error_at, consecutive_fails, node_report, updated_at)
                      select sync_name, error, case when error is null then null else finished_at end,
                             case when error is null then 0 else 1 end, node_report, finished_at from r
                      on conflict (sync_name) do update
                         set last_error = coalesce(excluded.last_error, s.last_error),
                             last_error_at = coalesce(excluded.last_error_at, s.last_error_at),
                             consecutive_fails = case when excluded.last_error is null then 0 else s.consecutive_fails + 1 end,
                             node_report = excluded.node_report, updated_at = excluded.updated_at
                      returning 1),
            reached as (update ibex.sync_node n set last_reached_at = r.started_at from r
                         where n.sync_name = r.sync_name and n.node_name = any (r.reached)
                        returning 1)
            select (select count(*) from rounds), (select count(*) from state), (select count(*) from reached)
            """;

    /**
     * Records the round's report, checking {@code fence} (the sync and the epoch it is owned at): one
     * statement, in plain JDBC (every round runs it).
     */
    public void record(RoundReport r, Fence fence) {
        String nodes = ConflictJournal.json(r.nodes());
        String error = r.problems().isEmpty() ? null : Redactor.text(String.join("; ", r.problems()));
        String[] reached = r.nodes().values().stream().filter(NodeRound::reachable).map(NodeRound::node).toArray(String[]::new);
        ControlStore.plain(dsl, "recording a round of sync " + r.sync(), c -> {
            try (PreparedStatement ps = c.prepareStatement(RECORD)) {
                ps.setString(1, fence.sync());
                ps.setLong(2, fence.epoch());
                ps.setString(3, r.sync());
                ps.setObject(4, OffsetDateTime.ofInstant(r.started(), ZoneOffset.UTC));
                ps.setObject(5, OffsetDateTime.ofInstant(r.finished(), ZoneOffset.UTC));
                ps.setString(6, r.outcome().label());
                ps.setLong(7, r.keysDecided());
                ps.setLong(8, r.rowsApplied());
                ps.setLong(9, r.conflicts());
                ps.setString(10, nodes);
                ps.setString(11, error);
                ps.setArray(12, c.createArrayOf("varchar", reached));
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                }
            }
            return null;
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
