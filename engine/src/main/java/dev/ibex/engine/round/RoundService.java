package dev.ibex.engine.round;

import dev.ibex.engine.CrashPoints;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.journal.ConflictJournal;
import dev.ibex.engine.journal.RoundHistory;
import java.time.Clock;

/**
 * Runs a round of a sync and records it: conflicts to the journal as they are decided, the report
 * to the round history. At most once a minute per sync it also purges journal entries and rounds
 * older than the sync's retention. Thread-safe; blocking.
 */
public final class RoundService {
    private static final java.time.Duration PURGE_EVERY = java.time.Duration.ofMinutes(1);

    private final ControlStore control;
    private final RoundRunner runner;
    private final RoundHistory history;
    private final ConflictJournal journal;
    private final Clock clock;
    private final java.util.Map<String, java.time.Instant> purged = new java.util.concurrent.ConcurrentHashMap<>();

    public RoundService(ControlStore control, NodeDirectory directory, Clock clock) {
        this(control, directory, clock, RoundRunner.PURGE_BUDGET, FoldListener.NONE);
    }

    /**
     * @param purgeBudget the time a round may spend purging ledgers (after one chunk); tests set zero to purge a chunk per round
     * @param folds       told about every fold (the engine's change poller)
     */
    public RoundService(ControlStore control, NodeDirectory directory, Clock clock, java.time.Duration purgeBudget, FoldListener folds) {
        this.control = control;
        this.journal = new ConflictJournal(control.dsl());
        this.runner = new RoundRunner(directory, journal, new dev.ibex.engine.journal.LedgerPurges(control.dsl()),
                (sync, table, reason) -> control.setTablesPaused(sync, java.util.List.of(table), true, reason), clock, purgeBudget,
                folds);
        this.history = new RoundHistory(control.dsl());
        this.clock = clock;
    }

    public SyncSettings settings(String sync) {
        return control.sync(sync);
    }

    public RoundReport run(SyncSettings sync) {
        RoundReport r = runner.run(sync);
        CrashPoints.reach(CrashPoints.ROUND_APPLIED);
        history.record(r);
        java.time.Instant now = clock.instant();
        markAwayPastRetention(sync, r, now);
        java.time.Instant last = purged.get(sync.name());
        if (last == null || last.plus(PURGE_EVERY).isBefore(now)) {
            journal.purge(sync.name(), sync.journalRetention(), now);
            history.purge(sync.name(), sync.journalRetention(), now);
            purged.put(sync.name(), now);
        }
        return r;
    }

    /**
     * Marks each node that the round could not reach and that no round has reached for longer than
     * the sync's node retention as needing a resync: rounds leave it out from now on, so that it no
     * longer holds back ledger purging, until 'ibex node resync' brings it back.
     */
    private void markAwayPastRetention(SyncSettings sync, RoundReport r, java.time.Instant now) {
        for (NodeRound n : r.nodes().values()) {
            if (n.reachable()) {
                continue;
            }
            history.lastReached(sync.name(), n.node()).filter(t -> t.toInstant().plus(sync.nodeRetention()).isBefore(now))
                    .ifPresent(t -> control.markResyncNeeded(sync.name(), n.node(), "unreachable since " + t
                            + ", longer than the node retention (" + dev.ibex.engine.config.DurationText.format(sync.nodeRetention()) + "); ledger entries are no longer kept "
                            + "for it and its changes since then will be discarded; bring it back with 'ibex node resync "
                            + n.node() + "'"));
        }
    }

    /** Rounds in flight end after their current chunk; see {@link RoundRunner#stop()}. */
    public void stop() {
        runner.stop();
    }

    public RoundReport run(String sync) {
        return run(settings(sync));
    }

    /**
     * A round with the settings as they are now in the control database (so that a pause takes
     * effect from the next round), or nothing when the sync is paused or gone, or when someone else
     * holds its round lock (another engine, or a resync waiting for rounds to leave a node alone).
     */
    public java.util.Optional<RoundReport> runIfActive(String sync) {
        java.util.Optional<ControlStore.RoundLock> lock = control.tryRoundLock(sync);
        if (lock.isEmpty()) {
            return java.util.Optional.empty();
        }
        try (ControlStore.RoundLock held = lock.get()) {
            return control.findSync(sync).filter(s -> !s.paused()).map(this::run);
        }
    }
}
