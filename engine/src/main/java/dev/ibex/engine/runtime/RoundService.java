package dev.ibex.engine.runtime;

import static dev.ibex.schema.control.jooq.Tables.SYNC;

import dev.ibex.engine.CrashPoints;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.DurationText;
import dev.ibex.engine.config.RoundLocks;
import dev.ibex.engine.config.SyncCatalog;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.fence.Fence;
import dev.ibex.engine.fence.Ownership;
import dev.ibex.engine.journal.ConflictJournal;
import dev.ibex.engine.journal.LedgerPurges;
import dev.ibex.engine.journal.RoundHistory;
import dev.ibex.engine.round.FoldListener;
import dev.ibex.engine.round.NodeRound;
import dev.ibex.engine.round.ObservedConflicts;
import dev.ibex.engine.round.RoundHints;
import dev.ibex.engine.round.RoundObserver;
import dev.ibex.engine.round.RoundReport;
import dev.ibex.engine.round.RoundRunner;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Runs a round of a sync and records it: conflicts to the journal as they are decided, the report
 * to the round history. At most once a minute per sync it also purges journal entries and rounds
 * older than the sync's retention. Every write on behalf of the sync checks the {@link Fence} it
 * is owned at. Thread-safe; blocking.
 */
public final class RoundService {
    /** The owner name of rounds run in process, outside an engine ({@link #run(String)}: tests, benchmarks). */
    public static final String IN_PROCESS = "in-process";
    /**
     * Rounds one engine runs at once; more wait. Each holds up to three connections to each of its
     * nodes and one to the control database, so this bounds the pools (see {@code NodeDirectory}).
     */
    public static final int MAX_CONCURRENT_ROUNDS = 8;
    private static final Duration PURGE_EVERY = Duration.ofMinutes(1);

    private final ControlStore control;
    private final RoundRunner runner;
    private final RoundHistory history;
    private final ConflictJournal journal;
    /** What a round reads first: the settings, the members' connections, and whether purges or repairs wait. */
    private final SyncCatalog.OwnedQuery ownedQuery;
    private final Ownership ownership;
    private final Clock clock;
    private final RoundObserver observer;
    private final Map<String, Instant> purged = new ConcurrentHashMap<>();
    private final Map<String, Fence> inProcess = new ConcurrentHashMap<>();
    private final java.util.concurrent.Semaphore concurrent = new java.util.concurrent.Semaphore(MAX_CONCURRENT_ROUNDS, true);

    public RoundService(ControlStore control, NodeDirectory directory, Clock clock) {
        this(control, directory, clock, RoundRunner.PURGE_BUDGET, FoldListener.NONE);
    }

    /**
     * @param purgeBudget the time a round may spend purging ledgers (after one chunk); tests set zero to purge a chunk per round
     * @param folds       told about every fold (the engine's change poller)
     */
    public RoundService(ControlStore control, NodeDirectory directory, Clock clock, Duration purgeBudget, FoldListener folds) {
        this(control, directory, clock, purgeBudget, folds, RoundObserver.NONE);
    }

    /** @param observer told what each round did (the engine's metrics) */
    public RoundService(ControlStore control, NodeDirectory directory, Clock clock, Duration purgeBudget, FoldListener folds,
                        RoundObserver observer) {
        this.control = control;
        this.observer = observer;
        this.journal = new ConflictJournal(control.dsl());
        this.runner = new RoundRunner(directory, new ObservedConflicts(journal, observer), new LedgerPurges(control.dsl()),
                control.tables()::pause, clock, purgeBudget, folds);
        this.history = new RoundHistory(control.dsl());
        this.ownedQuery = control.syncs().ownedQuery(List.of(LedgerPurges.pendingFor(SYNC.NAME), ConflictJournal.repairsPendingFor(SYNC.NAME)));
        this.ownership = new Ownership(control.dataSource());
        this.clock = clock;
    }

    public Ownership ownership() {
        return ownership;
    }

    public SyncSettings settings(String sync) {
        return control.syncs().get(sync);
    }

    /** Runs a round of {@code sync} as its owner at {@code fence}; see {@link RoundRunner#run}. */
    public RoundReport run(SyncSettings sync, Fence fence) {
        return run(sync, fence, RoundHints.NONE);
    }

    private RoundReport run(SyncSettings sync, Fence fence, RoundHints hints) {
        Instant started = clock.instant();
        RoundReport r;
        try {
            r = runner.run(sync, fence, hints);
        } catch (RuntimeException e) {
            observer.failed(sync.name(), Duration.between(started, clock.instant()));
            throw e;
        }
        observer.finished(r);
        CrashPoints.reach(CrashPoints.ROUND_APPLIED);
        history.record(r, fence);
        Instant now = clock.instant();
        markAwayPastRetention(sync, fence, r, now);
        Instant last = purged.get(sync.name());
        if (last == null || last.plus(PURGE_EVERY).isBefore(now)) {
            control.dsl().transaction(cfg -> {
                var tx = ControlStore.fenced(cfg, fence);
                new ConflictJournal(tx).purge(sync.name(), sync.journalRetention(), now);
                new RoundHistory(tx).purge(sync.name(), sync.journalRetention(), now);
            });
            purged.put(sync.name(), now);
        }
        return r;
    }

    /**
     * A round outside an engine (tests, benchmarks, one-off runs): takes the sync for
     * {@link #IN_PROCESS} on first use, whoever owned it, and again if another owner took it since.
     */
    public RoundReport run(SyncSettings sync) {
        Fence fence = inProcess.computeIfAbsent(sync.name(), this::takeInProcess);
        try {
            return run(sync, fence);
        } catch (RuntimeException e) {
            if (!Fence.rejected(e)) {
                throw e;
            }
            inProcess.remove(sync.name(), fence);
            return run(sync, inProcess.computeIfAbsent(sync.name(), this::takeInProcess));
        }
    }

    private Fence takeInProcess(String sync) {
        return ownership.take(sync, IN_PROCESS, engine -> false)
                .orElseThrow(() -> new dev.ibex.engine.UsageException("unknown sync '" + sync + "': see 'ibex sync list'"));
    }

    /**
     * Marks each node that the round could not reach and that no round has reached for longer than
     * the sync's node retention as needing a resync: rounds leave it out from now on, so that it no
     * longer holds back ledger purging, until 'ibex node resync' brings it back.
     */
    private void markAwayPastRetention(SyncSettings sync, Fence fence, RoundReport r, Instant now) {
        for (NodeRound n : r.nodes().values()) {
            if (n.reachable()) {
                continue;
            }
            history.lastReached(sync.name(), n.node()).filter(t -> t.toInstant().plus(sync.nodeRetention()).isBefore(now))
                    .ifPresent(t -> control.syncs().markResyncNeeded(fence, n.node(), "unreachable since " + t
                            + ", longer than the node retention (" + DurationText.format(sync.nodeRetention()) + "); ledger entries are no longer kept "
                            + "for it and its changes since then will be discarded; bring it back with 'ibex node resync "
                            + n.node() + "'"));
        }
    }

    /** See {@link RoundRunner#prepare}. */
    public void prepare(String node) {
        runner.prepare(node);
    }

    /** Rounds in flight end after their current chunk; see {@link RoundRunner#stop()}. */
    public void stop() {
        runner.stop();
    }

    public RoundReport run(String sync) {
        return run(settings(sync));
    }

    /**
     * A round as the sync's owner at {@code fence}, with the settings as they are now in the control
     * database (so that a pause takes effect from the next round); nothing when the sync is paused
     * or gone, or when someone else holds its round lock (a resync waiting for rounds to leave a node
     * alone, or an older owner's round still in flight). Fails with {@link Fence.Rejected} when
     * another engine has taken the sync since.
     */
    public Optional<RoundReport> runIfActive(Fence fence) {
        concurrent.acquireUninterruptibly();
        try {
            return runIfActiveNow(fence);
        } finally {
            concurrent.release();
        }
    }

    private Optional<RoundReport> runIfActiveNow(Fence fence) {
        Optional<RoundLocks.RoundLock> lock = control.rounds().tryLock(fence);
        if (lock.isEmpty()) {
            return Optional.empty();
        }
        try (RoundLocks.RoundLock held = lock.get()) {
            // one statement: the settings, the members' connections, and whether purges or repairs wait
            Optional<SyncCatalog.Owned> owned = control.syncs().findOwned(ownedQuery, fence.sync());
            if (owned.isPresent() && owned.get().epoch() != fence.epoch()) {
                throw new Fence.Rejected("fenced: sync " + fence.sync() + " was taken at epoch " + owned.get().epoch()
                        + "; this engine held epoch " + fence.epoch());
            }
            return owned.filter(o -> !o.settings().paused()).map(o -> run(o.settings(), fence, new RoundHints(o.nodes(),
                    Boolean.TRUE.equals(o.alongside().get(0)), Boolean.TRUE.equals(o.alongside().get(1)))));
        }
    }

    /** The epochs this service took for rounds in process, by sync (for tests that check fencing). */
    public List<Fence> inProcessFences() {
        return List.copyOf(inProcess.values());
    }
}
