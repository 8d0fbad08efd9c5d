package dev.ibex.engine.round;

import dev.ibex.conflict.ConflictResolver;
import dev.ibex.conflict.ManualResolver;
import dev.ibex.conflict.NodeId;
import dev.ibex.engine.CrashPoints;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.capture.NodeSchema;
import dev.ibex.engine.capture.TableInspector;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.config.Strategies;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.db.NodeSettings;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.fence.Fence;
import dev.ibex.engine.capture.LogFolder;
import dev.ibex.engine.capture.LogRotation;
import dev.ibex.engine.window.AppliedStore;
import dev.ibex.engine.window.Snapshot;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import javax.sql.DataSource;

/**
 * Runs one round of a sync over its reachable nodes: read each node's change counter, fold each
 * node's change log into its ledgers, run every table with changes, tidy the logs, and report. An
 * unreachable node or a failing table is recorded and skipped; it stalls only itself. Blocking; called from the engine's JDBC dispatcher, never from an actor thread.
 * After {@link #stop()}, a round in flight ends at its next chunk boundary (see {@code TableRound})
 * and reports where it stopped; rounds started later stop before their first chunk.
 */
public final class RoundRunner {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(RoundRunner.class);
    /** Pauses a table that cannot be reconciled until someone fixes it, with the reason. */
    public interface TablePauser {
        void pause(Fence fence, TableRef table, String reason);
    }

    /**
     * The time a round may spend purging ledgers (after at least one chunk); a longer purge goes on in
     * the next rounds, which start at once. About one chunk: rounds run back to back while a purge
     * lasts, so a small share per round still purges steadily, and holds each round's changes back by
     * one chunk instead of 150 ms.
     */
    public static final Duration PURGE_BUDGET = Duration.ofMillis(25);
    /**
     * Ledger entries a purge takes at a time (scanned on one node, compared with the others, recorded
     * in the control database, deleted on every node at once: three commits flushed to disk): on 2 cores
     * busy with writes, 500 took about 40 ms and 1 000 about 75 ms with the deletes one node after the
     * other, which every change that came in meanwhile waits for.
     */
    public static final int PURGE_CHUNK = 500;

    private final NodeDirectory directory;
    private final TablePauser pauser;
    private final ConflictSink journal;
    private final PurgeLog purges;
    private final Clock clock;
    private final Duration purgeBudget;
    private final Map<String, Instant> lastPurge = new ConcurrentHashMap<>();
    private final Map<String, PurgeCursor> purgeCursors = new ConcurrentHashMap<>();
    private final Instant created;
    private final Set<String> upgraded = ConcurrentHashMap.newKeySet();
    private final DownNodes down = new DownNodes();
    private final FoldListener listener;
    private volatile boolean stopping;

    public RoundRunner(NodeDirectory directory, ConflictSink journal, PurgeLog purges, TablePauser pauser, Clock clock,
                       Duration purgeBudget, FoldListener listener) {
        this.directory = directory;
        this.listener = listener;
        this.purgeBudget = purgeBudget;
        this.pauser = pauser;
        this.journal = journal;
        this.purges = purges;
        this.clock = clock;
        this.created = clock.instant();
    }

    /** Asks rounds in flight to end after the chunk they are applying; for the engine's graceful stop. */
    public void stop() {
        stopping = true;
    }

    /**
     * Runs a round of {@code sync} as its owner at {@code fence}: every write of the round checks
     * it; a node that holds an older epoch is raised to it first. Fails with {@link Fence.Rejected}
     * as soon as the round finds that another engine took the sync.
     */
    public RoundReport run(SyncSettings sync, Fence fence) {
        return run(sync, fence, RoundHints.NONE);
    }

    /** The same, with what the caller already read about the sync ({@link RoundHints}). */
    public RoundReport run(SyncSettings sync, Fence fence, RoundHints hints) {
        Instant started = clock.instant();
        Map<String, NodeRound> nodes = new LinkedHashMap<>();
        List<String> errors = new ArrayList<>();
        List<String> cutShort = new ArrayList<>();
        List<NodeSession> sessions = new ArrayList<>();
        Map<String, Long> counters = new LinkedHashMap<>();
        long decided = 0;
        long conflicts = 0;
        boolean more = false;
        int tablesLeftBehind = 0;
        LedgerPurger purger = new LedgerPurger(fence, purges);
        // per source, the targets this round did not bring up to date with its fold; null: none can be said to be
        Map<String, Set<String>> behind = new LinkedHashMap<>();
        try {
            open(sync, fence, hints, sessions, counters, nodes, errors);
            if (hints.purgesPending()) {
                purger.finish(sessions, errors, (s, why) -> drop(s, why, counters, nodes));
            }
            Set<String> partlyFolded = new HashSet<>();
            List<TableSettings> active = sync.tables().stream().filter(t -> !t.paused()).toList();
            Folded folded = fold(fence, sessions, counters, nodes, errors, partlyFolded, active.stream().map(TableSettings::table).toList());
            Map<String, LogFolder.Fold> folds = folded.folds();
            if (sync.tables().stream().anyMatch(TableSettings::paused)) {
                behind = null; // a paused table's changes reach no one
            }
            CrashPoints.reach(CrashPoints.LOGS_FOLDED);
            // a repair makes every node equal: it waits for a round that reaches them all
            Map<TableRef, Map<List<String>, Repair>> allRepairs = sessions.size() < sync.activeNodes().size() || active.isEmpty()
                    || !hints.repairsPending()
                    ? Map.of() : journal.repairs(sync.name());
            Map<TableRef, ChangedTables.TableState> states = sessions.size() < 2 ? Map.of()
                    : tableStates(active, sessions, folds, folded.shapes());
            for (TableSettings t : active) {
                if (sessions.size() < 2) {
                    continue;
                }
                if (stopping) {
                    cutShort.add("table " + t.table() + " not started; the next run reconciles it");
                    continue;
                }
                try {
                    String strategy = sync.strategyFor(t);
                    Map<List<String>, ManualResolver.Choice> choices = Strategies.kind(strategy) == Strategies.Kind.MANUAL
                            ? journal.choices(sync.name(), t.table()) : Map.of();
                    Map<List<String>, Repair> repairs = allRepairs.getOrDefault(t.table(), Map.of());
                    ChangedTables.TableState state = states.get(t.table());
                    if (state.sources().isEmpty() && choices.isEmpty() && repairs.isEmpty()) {
                        continue;
                    }
                    ConflictResolver resolver = Strategies.resolver(strategy, sync.priority(), new ManualResolver((table, key) -> choices.get(key)));
                    Set<List<String>> keys = new HashSet<>(choices.keySet());
                    keys.addAll(repairs.keySet());
                    List<List<String>> chosen = keys.stream().sorted(KeyOrder.INSTANCE).toList();
                    TableRound.Result r = new TableRound(fence, t.table(), sessions, snapshots(folds), state,
                            resolver, chosen, repairs, ordinal -> byOrdinal(sync, ordinal), () -> stopping, journal).run();
                    decided += r.decided();
                    conflicts += r.conflicts();
                    r.applied().forEach((n, c) -> nodes.computeIfPresent(n, (k, v) -> v.plus(c, 0)));
                    r.skipped().forEach((n, c) -> nodes.computeIfPresent(n, (k, v) -> v.plus(0, c)));
                    r.failed().forEach((n, why) -> nodes.computeIfPresent(n, (k, v) -> v.failed(why)));
                    errors.addAll(r.errors());
                    if (behind != null) {
                        Map<String, Set<String>> b = behind;
                        r.behind().forEach((source, targets) -> b.computeIfAbsent(source, k -> new HashSet<>()).addAll(targets));
                    }
                    more |= r.deferred() > 0;
                    tablesLeftBehind += r.leftBehind() ? 1 : 0;
                    if (r.stoppedAfter() >= 0) {
                        behind = null;
                        cutShort.add("table " + t.table() + " stopped after " + r.stoppedAfter() + " chunk(s), each "
                                + "committed on every target; its watermarks are unchanged, so the next run reads those keys again");
                    }
                } catch (TableStall e) {
                    behind = null;
                    String why = Redactor.text(e.getMessage());
                    pauser.pause(fence, t.table(), why);
                    errors.add("table " + t.table() + " paused: " + why);
                } catch (IbexException | SQLException e) {
                    Optional<Fence.Rejected> fenced = Fence.asRejection("table " + t.table(), e);
                    if (fenced.isPresent()) {
                        throw fenced.get();
                    }
                    tablesLeftBehind++;
                    behind = null;
                    errors.add("table " + t.table() + ": " + Redactor.text(e.getMessage()));
                }
            }
            if (!stopping) {
                tidy(fence, sessions, folds, errors);
                more |= moreWork(sync, sessions, counters, publications(sync, sessions, folds, partlyFolded, behind));
            }
            if (!stopping && sessions.size() >= 2 && purgeIfDue(sync, purger, sessions, errors)) {
                more = true;
            }
        } finally {
            sessions.forEach(NodeSession::close);
        }
        return new RoundReport(sync.name(), started, clock.instant(), nodes, decided, conflicts, errors, cutShort, more,
                purger.deleted(),
                tablesLeftBehind);
    }

    /** A node that cannot take part in the rest of this round: its session closes, its report says why. */
    private static void drop(NodeSession s, String why, Map<String, Long> counters, Map<String, NodeRound> nodes) {
        s.close();
        counters.remove(s.node.name());
        nodes.put(s.node.name(), new NodeRound(s.node.name(), false, 0, 0, why, null));
    }

    /**
     * The round's folds, and the definitions of its tables on each node (null when some node's could
     * not be read: the table rounds read them).
     */
    private record Folded(Map<String, LogFolder.Fold> folds, Map<String, Map<TableRef, Optional<TableShape>>> shapes) {
    }

    /**
     * Folds every node's change log, all at once, and meanwhile reads the definitions of {@code
     * tables} on each node's reader. A node whose fold fails sits this round out: its ledger would
     * not account for changes its rows show.
     */
    private Folded fold(Fence fence, List<NodeSession> sessions, Map<String, Long> counters,
                        Map<String, NodeRound> nodes, List<String> errors, Set<String> partlyFolded, List<TableRef> tables) {
        String sync = fence.sync();
        Map<String, LogFolder.Fold> out = new LinkedHashMap<>();
        List<NodeSession> all = List.copyOf(sessions);
        // each node twice: its fold on the writer, its tables' definitions on the reader (when the round has tables to compare)
        boolean inspect = all.size() >= 2 && !tables.isEmpty();
        List<Integer> tasks = java.util.stream.IntStream.range(0, inspect ? 2 * all.size() : all.size()).boxed().toList();
        List<Object> results;
        try {
            results = PerNode.all(tasks, i -> {
                NodeSession s = all.get(i % all.size());
                try {
                    return i < all.size() ? LogFolder.fold(s.writer, s.node, fence) : TableInspector.inspectAll(s.reader, tables);
                } catch (IbexException e) {
                    return e;
                }
            });
        } catch (SQLException e) {
            throw new IbexException("folding change logs: " + e.getMessage(), e);
        }
        List<Object> folded = results.subList(0, all.size());
        Map<String, Map<TableRef, Optional<TableShape>>> shapes = inspect ? new LinkedHashMap<>() : null;
        for (int i = 0; inspect && i < all.size(); i++) {
            if (results.get(all.size() + i) instanceof Map<?, ?> m && shapes != null) {
                @SuppressWarnings("unchecked")
                Map<TableRef, Optional<TableShape>> read = (Map<TableRef, Optional<TableShape>>) m;
                shapes.put(all.get(i).node.name(), read);
            } else {
                shapes = null; // the table rounds read them
            }
        }
        for (int i = 0; i < all.size(); i++) {
            NodeSession s = all.get(i);
            if (folded.get(i) instanceof LogFolder.Fold f) {
                out.put(s.node.name(), f);
                if (!f.failed().isEmpty()) {
                    partlyFolded.add(s.node.name()); // a table left unfolded: its changes are not all in this round
                }
                listener.folded(sync, s.node.name(), counters.get(s.node.name()), f.snapshot(), f.next());
                f.failed().forEach((t, why) -> errors.add("node " + s.node + ", table " + t + ": folding its change log: " + why));
            } else if (folded.get(i) instanceof Fence.Rejected r) {
                throw r;
            } else {
                String why = Redactor.text(((IbexException) folded.get(i)).getMessage()) + "; the node sits this round out";
                errors.add(why);
                sessions.remove(s);
                drop(s, why, counters, nodes);
            }
        }
        return new Folded(out, shapes);
    }

    /** Rotates and truncates change logs where due, as the round's folds found them; a problem is reported, never fatal. */
    private void tidy(Fence fence, List<NodeSession> sessions, Map<String, LogFolder.Fold> folds, List<String> errors) {
        Instant now = clock.instant();
        try {
            PerNode.each(sessions, s -> {
                try {
                    return LogRotation.tidy(s.writer, fence, now, folds.get(s.node.name()).tables()).stream()
                            .map(p -> "node " + s.node + ", " + p).toList();
                } catch (SQLException e) {
                    if (Fence.rejected(e)) {
                        throw Fence.asRejection("node " + s.node + ": tidying change logs", e).orElseThrow();
                    }
                    return List.of("node " + s.node + ": tidying change logs: " + Redactor.firstLine(e.getMessage()));
                }
            }).forEach(errors::addAll);
        } catch (SQLException e) {
            throw new IllegalStateException(e); // each node's failure is returned, not thrown
        }
    }

    /**
     * Purges ledger entries every node holds, at most once per purge interval (the first time one
     * interval after this runner was created) and only in a round that reached every node of the
     * sync (but those waiting for a resync), and not while a node is being copied into the sync (it
     * keeps what it copied): an entry one node lacks must stay on the others. A round spends at
     * most the purge budget on it ({@link #PURGE_BUDGET} in the engine), but always
     * one chunk, so that a large purge does not hold up the replication of new changes; a purge cut
     * short goes on from where it stopped in the next round, which starts at once. Returns whether
     * it was cut short.
     */
    private boolean purgeIfDue(SyncSettings sync, LedgerPurger purger, List<NodeSession> sessions, List<String> errors) {
        Instant now = clock.instant();
        Instant last = lastPurge.computeIfAbsent(sync.name(), k -> created);
        PurgeCursor cursor = purgeCursors.get(sync.name());
        if (sessions.size() < 2 || sessions.size() < sync.activeNodes().size()
                || (cursor == null && now.isBefore(last.plus(sync.purgeInterval()))) || purges.copying(sync.name())) {
            return false;
        }
        long deadline = System.nanoTime() + purgeBudget.toNanos();
        try {
            List<TableRef> present = ChangedTables.present(sync.tables(), ChangedTables.ledgers(sessions.get(0)));
            Set<TableRef> withEntries = ChangedTables.withEntries(sessions.get(0), present);
            int from = cursor == null ? 0 : Math.max(0, present.indexOf(cursor.table()));
            for (TableRef t : present.subList(from, present.size())) {
                if (!withEntries.contains(t)) {
                    continue;
                }
                List<String> after = cursor != null && t.equals(cursor.table()) ? cursor.after() : null;
                Optional<List<String>> stoppedAt = purger.purge(t, sessions, errors, after, deadline);
                if (stoppedAt.isPresent()) {
                    purgeCursors.put(sync.name(), new PurgeCursor(t, stoppedAt.get()));
                    return true;
                }
            }
        } catch (SQLException e) {
            errors.add("ledger purge: node " + sessions.get(0).node + ": " + Redactor.firstLine(e.getMessage()));
        }
        purgeCursors.remove(sync.name());
        lastPurge.put(sync.name(), now);
        return false;
    }

    /** Where a purge cut short by its budget goes on: the table, and the last key scanned in it. */
    private record PurgeCursor(TableRef table, List<String> after) {
    }

    /**
     * Opens a session on every active node, all at once (each borrows two connections and reads its
     * change counter): an unreachable node is reported and left out of the round.
     */
    private void open(SyncSettings sync, Fence fence, RoundHints hints, List<NodeSession> sessions, Map<String, Long> counters,
                      Map<String, NodeRound> nodes, List<String> errors) {
        sync.resyncNeeded().keySet().forEach(down::forget);
        List<Opened> opened;
        try {
            opened = PerNode.all(sync.activeNodes(), n -> open(sync, fence, hints, n));
        } catch (SQLException e) {
            throw new IllegalStateException(e); // each node's failure is returned, not thrown
        }
        opened.stream().map(Opened::failure).filter(java.util.Objects::nonNull).findFirst().ifPresent(f -> {
            opened.stream().map(Opened::session).filter(java.util.Objects::nonNull).forEach(NodeSession::close);
            throw f;
        });
        for (Opened o : opened) {
            if (o.session() != null) {
                sessions.add(o.session());
                counters.put(o.node().name(), o.counter());
                nodes.put(o.node().name(), new NodeRound(o.node().name(), true, 0, 0, null, o.session().clockSkewMillis()));
            } else {
                errors.add(o.why());
                nodes.put(o.node().name(), new NodeRound(o.node().name(), false, 0, 0, o.why(), null));
            }
        }
    }

    /**
     * Raises the node's epoch of the sync to the fence's if it holds an older one (the first round
     * of a new owner there), ending transactions of older owners that hold it up; fails when the
     * node holds a newer one.
     */
    private static void takeFence(NodeSession s, Fence fence) throws SQLException {
        if (s.fenceEpoch() > fence.epoch()) {
            throw new Fence.Rejected("fenced: sync " + fence.sync() + " is at epoch " + s.fenceEpoch() + " on node " + s.node
                    + ", this engine holds epoch " + fence.epoch());
        }
        if (s.fenceEpoch() < fence.epoch()) {
            int ended = fence.take(s.writer, s.node.name());
            if (ended > 0) {
                LOG.warn("sync {}: took node {} at epoch {}, ending {} session(s) of an older owner that held it",
                        fence.sync(), s.node, fence.epoch(), ended);
            }
        }
    }

    /** A node's session and change counter for this round, or why it has none, or what went wrong unexpectedly. */
    private record Opened(NodeId node, NodeSession session, long counter, String why, RuntimeException failure) {
        Opened(NodeId node, NodeSession session, long counter, String why) {
            this(node, session, counter, why, null);
        }
    }

    private Opened open(SyncSettings sync, Fence fence, RoundHints hints, NodeId n) {
        String skipped = down.skip(n.name());
        if (skipped != null) {
            return new Opened(n, null, 0, skipped + " (still unreachable; probing it in the background)");
        }
        DataSource pool = null;
        try {
            NodeSettings known = hints.nodes().get(n.name());
            NodeSettings settings = known != null ? known : directory.settings(n.name());
            pool = directory.pool(settings);
            upgrade(n, pool);
            NodeSession s = NodeSession.open(n, pool, directory.writers(settings));
            try {
                long counter = s.changes(sync.name(), clock);
                takeFence(s, fence);
                return new Opened(n, s, counter, null);
            } catch (SQLException | RuntimeException e) {
                s.close();
                if (e instanceof RuntimeException r) {
                    throw r;
                }
                throw new IbexException("node " + n + ": reading its change counter: " + Redactor.firstLine(e.getMessage()), e);
            }
        } catch (Fence.Rejected e) {
            return new Opened(n, null, 0, null, e);
        } catch (IbexException e) {
            String why = Redactor.text(e.getMessage());
            if (pool != null) {
                down.failed(n.name(), why, pool);
            }
            return new Opened(n, null, 0, why);
        } catch (RuntimeException e) {
            return new Opened(n, null, 0, null, e);
        }
    }

    /** What each table has to do this round; every table from every node when the nodes cannot tell. */
    private static Map<TableRef, ChangedTables.TableState> tableStates(List<TableSettings> tables, List<NodeSession> sessions,
                                                                      Map<String, LogFolder.Fold> folds,
                                                                      Map<String, Map<TableRef, Optional<TableShape>>> shapes) {
        try {
            return ChangedTables.read(tables, sessions, folds, shapes);
        } catch (SQLException e) {
            Set<String> all = new HashSet<>();
            sessions.forEach(s -> all.add(s.node.name()));
            Map<TableRef, ChangedTables.TableState> out = new LinkedHashMap<>();
            tables.forEach(t -> out.put(t.table(), new ChangedTables.TableState(all, null, null)));
            return out;
        }
    }

    /**
     * Brings the node's ibex schema up to this engine's version now, as the first round that reaches
     * it would (an engine does it when it starts, so that the syncs it takes over do not wait for it);
     * a failure is left for that round to report.
     */
    public void prepare(String node) {
        try {
            upgrade(new NodeId(node, 0), directory.pool(node));
        } catch (RuntimeException e) {
            // unreachable now: the first round that reaches the node upgrades it, or says why it cannot
        }
    }

    /** Brings the node's ibex schema up to this engine's version, once per node and engine run. */
    private void upgrade(NodeId n, DataSource pool) {
        if (upgraded.contains(n.name())) {
            return;
        }
        try {
            NodeSchema.migrate(pool);
        } catch (RuntimeException e) {
            throw new IbexException("node " + n + ": upgrading its ibex schema: " + Redactor.firstLine(String.valueOf(e.getMessage())), e);
        }
        upgraded.add(n.name());
    }

    /** Each node's fold snapshot. */
    private static Map<String, Snapshot> snapshots(Map<String, LogFolder.Fold> folds) {
        Map<String, Snapshot> out = new LinkedHashMap<>();
        folds.forEach((node, f) -> out.put(node, f.snapshot()));
        return out;
    }

    private static NodeId byOrdinal(SyncSettings sync, int ordinal) {
        return sync.nodes().stream().filter(n -> n.ordinal() == ordinal).findFirst()
                .orElse(new NodeId("#" + ordinal, ordinal));
    }

    /**
     * What each source publishes at the end of the round (ADR 0006): the other members that now hold
     * every change its fold took. None when the round cannot tell (a table paused, failed or cut
     * short), and none for a source that could not fold every table.
     */
    private static Map<String, AppliedStore.Publication> publications(SyncSettings sync, List<NodeSession> sessions,
                                                                      Map<String, LogFolder.Fold> folds, Set<String> partlyFolded,
                                                                      Map<String, Set<String>> behind) {
        Map<String, AppliedStore.Publication> out = new LinkedHashMap<>();
        if (behind == null || sessions.size() < 2) {
            return out;
        }
        for (NodeSession s : sessions) {
            String source = s.node.name();
            LogFolder.Fold fold = folds.get(source);
            if (fold == null || partlyFolded.contains(source)) {
                continue;
            }
            Set<String> lagging = behind.getOrDefault(source, Set.of());
            List<String> reached = sessions.stream().map(o -> o.node.name())
                    .filter(n -> !n.equals(source) && !lagging.contains(n)).toList();
            List<String> members = sync.nodes().stream().map(NodeId::name).filter(n -> !n.equals(source)).toList();
            out.put(source, new AppliedStore.Publication(sync.name(), fold.snapshot(), reached, members));
        }
        return out;
    }

    /**
     * True when some node's capture counted a statement since the counter was read before its
     * fold: a change this round could not take may be committed already. The same statement
     * carries the node's publication, if any.
     */
    private static boolean moreWork(SyncSettings sync, List<NodeSession> sessions, Map<String, Long> counters,
                                    Map<String, AppliedStore.Publication> publications) {
        try {
            return PerNode.each(sessions, s -> {
                AppliedStore.Publication p = publications.get(s.node.name());
                long now = s.changes(sync.name(), p);
                return now != counters.getOrDefault(s.node.name(), -1L);
            }).contains(true);
        } catch (SQLException e) {
            return true;
        }
    }
}
