package dev.ibex.engine.status;

import dev.ibex.engine.round.RoundOutcome;
import java.util.List;

/**
 * The truth about one sync for {@code ibex status}: its state, its owner engine ({@code null}:
 * none), each node, the last round, the total pending changes and the lag (age of the oldest
 * change not yet reconciled everywhere), and the writes its fence refused (an engine that had
 * lost the sync tried them).
 */
public record SyncStatus(String sync, String state, Owner owner, String strategy, long intervalMillis, List<NodeStatus> nodes,
                         List<TableStatus> tables, LastRound lastRound, long pending, Double lagSeconds,
                         String lastError, String lastErrorAt, long fenceRejections, String lastFenceRejection,
                         String lastFenceRejectionAt, long openConflicts, long maxClockSkewMillis, List<String> warnings) {
    public static final String ACTIVE = "active";
    public static final String PAUSED = "paused";

    /** True when an operator paused the whole sync ({@code ibex sync pause}). */
    public boolean paused() {
        return PAUSED.equals(state);
    }

    /**
     * The engine that runs the sync: its name, cluster address ({@code null} when standalone), since
     * when and at which epoch; and its state and heartbeat age as {@code ibex engines} shows them
     * ({@code null} when the engine has no row in {@code ibex.engine}).
     */
    public record Owner(String engine, String address, String since, long epoch, String state, Long heartbeatAgeSeconds) {
    }

    /**
     * A node: reachability, pending changes that other nodes have not reconciled, clock skew (the
     * node's clock minus the engine's, as the last round measured it; measured now when no round
     * has reached the node). For a node that is unreachable now: when a round last reached it
     * ({@code null}: never), and how many keys the reachable nodes changed since then, which wait
     * for it ({@code null} when no node is reachable to count them). Its ledgers' size (entries and
     * bytes, all tables of the sync), and, for a node that rounds leave out until it is resynced, why.
     */
    public record NodeStatus(String node, int ordinal, boolean reachable, long pending, Double lagSeconds,
                             Long clockSkewMillis, long ledgerRows, long ledgerBytes, String error, String lastReachedAt,
                             Long waitingForIt, String resyncNeeded) {
    }

    /**
     * A table: its strategy, whether it is paused (and why), and its key as the first reachable
     * node has it ({@code primary key (id)} or {@code unique index t_code_key (code)}; null when no
     * node could be read).
     */
    public record TableStatus(String table, String strategy, boolean paused, String pauseReason, String key) {
    }

    /** The last round: when, how long, keys decided, rows applied (total and per node), conflicts. */
    public record LastRound(String startedAt, long durationMillis, RoundOutcome outcome, long keysDecided, long rowsApplied,
                            long conflicts, java.util.Map<String, Long> appliedPerNode, String error) {
    }
}
