package dev.ibex.engine.round;

import dev.ibex.conflict.ConflictResolver;
import dev.ibex.conflict.ManualResolver;
import dev.ibex.conflict.NodeId;
import dev.ibex.engine.CrashPoints;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.capture.NodeSchema;
import dev.ibex.engine.config.Strategies;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.window.TxId;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import javax.sql.DataSource;

/**
 * Runs one round of a sync over its reachable nodes: take each node's boundary, run every active
 * table, and report. An unreachable node or a failing table is recorded and skipped; it stalls
 * only itself. Blocking; called from the engine's JDBC dispatcher, never from an actor thread.
 * After {@link #stop()}, a round in flight ends at its next chunk boundary (see {@code TableRound})
 * and reports where it stopped; rounds started later stop before their first chunk.
 */
public final class RoundRunner {
    /** Pauses a table that cannot be reconciled until someone fixes it, with the reason. */
    public interface TablePauser {
        void pause(String sync, TableRef table, String reason);
    }

    /** How a round's errors begin when the engine's stop cut it short. */
    public static final String STOPPED = "engine stopping";
    /** The time a round may spend purging ledgers (after at least one chunk); a longer purge goes on in the next rounds. */
    public static final Duration PURGE_BUDGET = Duration.ofMillis(150);

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
    private volatile boolean stopping;

    public RoundRunner(NodeDirectory directory, ConflictSink journal, PurgeLog purges, TablePauser pauser, Clock clock,
                       Duration purgeBudget) {
        this.directory = directory;
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

    public RoundReport run(SyncSettings sync) {
        Instant started = clock.instant();
        Map<String, NodeRound> nodes = new LinkedHashMap<>();
        List<String> errors = new ArrayList<>();
        List<NodeSession> sessions = new ArrayList<>();
        Map<String, TxId> boundaries = new LinkedHashMap<>();
        long decided = 0;
        long conflicts = 0;
        boolean more = false;
        int tablesLeftBehind = 0;
        LedgerPurger purger = new LedgerPurger(sync.name(), purges);
        try {
            open(sync, sessions, boundaries, nodes, errors);
            CrashPoints.reach(CrashPoints.BOUNDARIES_TAKEN);
            purger.finish(sessions, errors, (s, why) -> {
                s.close();
                boundaries.remove(s.node.name());
                nodes.put(s.node.name(), new NodeRound(s.node.name(), false, 0, 0, why, null));
            });
            List<TableSettings> active = sync.tables().stream().filter(t -> !t.paused()).toList();
            ChangedTables probe = sessions.size() < 2 ? null : readLedgers(sessions);
            Set<TableRef> changed = changedTables(probe, active, sessions, boundaries);
            for (TableSettings t : active) {
                if (sessions.size() < 2) {
                    continue;
                }
                if (stopping) {
                    errors.add(STOPPED + ": table " + t.table() + " not started; the next run reconciles it");
                    continue;
                }
                try {
                    String strategy = sync.strategyFor(t);
                    Map<List<String>, ManualResolver.Choice> choices = Strategies.MANUAL.equals(strategy)
                            ? journal.choices(sync.name(), t.table()) : Map.of();
                    if (!changed.contains(t.table()) && choices.isEmpty()) {
                        continue;
                    }
                    ConflictResolver resolver = Strategies.resolver(strategy, sync.priority(), new ManualResolver((table, key) -> choices.get(key)));
                    TableRound tr = new TableRound(sync.name(), t.table(), sessions, boundaries, resolver, List.copyOf(choices.keySet()),
                            ordinal -> byOrdinal(sync, ordinal), nodes, () -> stopping);
                    try {
                        tr.run(journal, errors);
                    } finally {
                        decided += tr.decided();
                        conflicts += tr.conflicts();
                    }
                    tablesLeftBehind += tr.leftBehind() ? 1 : 0;
                    if (tr.stoppedAfter() >= 0) {
                        errors.add(STOPPED + ": table " + t.table() + " stopped after " + tr.stoppedAfter() + " chunk(s), each "
                                + "committed on every target; its watermarks are unchanged, so the next run reads those keys again");
                    }
                } catch (TableStall e) {
                    String why = Redactor.text(e.getMessage());
                    pauser.pause(sync.name(), t.table(), why);
                    errors.add("table " + t.table() + " paused: " + why);
                } catch (IbexException | SQLException e) {
                    tablesLeftBehind++;
                    errors.add("table " + t.table() + ": " + Redactor.text(e.getMessage()));
                }
            }
            more = !stopping && moreWork(sync, probe, sessions, boundaries);
            if (!stopping && probe != null && purgeIfDue(sync, probe, purger, sessions, errors)) {
                more = true;
            }
        } finally {
            sessions.forEach(NodeSession::close);
        }
        return new RoundReport(sync.name(), started, clock.instant(), nodes, decided, conflicts, errors, more, purger.deleted(),
                tablesLeftBehind);
    }

    /**
     * Purges ledger entries every node holds, at most once per purge interval (the first time one
     * interval after this runner was created) and only in a round that reached every node of the
     * sync (but those waiting for a resync): an entry one node lacks must stay on the others. A
     * round spends at most the purge budget on it ({@link #PURGE_BUDGET} in the engine), but always
     * one chunk, so that a large purge does not hold up the replication of new changes; a purge cut
     * short goes on from where it stopped in the next round, which starts at once. Returns whether
     * it was cut short.
     */
    private boolean purgeIfDue(SyncSettings sync, ChangedTables probe, LedgerPurger purger, List<NodeSession> sessions,
                               List<String> errors) {
        Instant now = clock.instant();
        Instant last = lastPurge.computeIfAbsent(sync.name(), k -> created);
        PurgeCursor cursor = purgeCursors.get(sync.name());
        if (sessions.size() < 2 || sessions.size() < sync.activeNodes().size()
                || (cursor == null && now.isBefore(last.plus(sync.purgeInterval())))) {
            return false;
        }
        long deadline = System.nanoTime() + purgeBudget.toNanos();
        try {
            Set<String> ledgers = probe.ledgers(sessions.get(0).node.name());
            List<TableRef> present = sync.tables().stream().filter(t -> !t.paused() && ledgers.contains(t.table().ledgerName()))
                    .map(TableSettings::table).toList();
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

    private void open(SyncSettings sync, List<NodeSession> sessions, Map<String, TxId> boundaries,
                      Map<String, NodeRound> nodes, List<String> errors) {
        sync.resyncNeeded().keySet().forEach(down::forget);
        for (NodeId n : sync.activeNodes()) {
            String skipped = down.skip(n.name());
            if (skipped != null) {
                String why = skipped + " (still unreachable; probing it in the background)";
                errors.add(why);
                nodes.put(n.name(), new NodeRound(n.name(), false, 0, 0, why, null));
                continue;
            }
            DataSource pool = null;
            try {
                pool = directory.pool(n.name());
                upgrade(n, pool);
                NodeSession s = NodeSession.open(n, pool);
                try {
                    boundaries.put(n.name(), s.boundary(sync.name(), clock));
                } catch (SQLException e) {
                    s.close();
                    throw new IbexException("node " + n + ": taking its boundary: " + Redactor.firstLine(e.getMessage()), e);
                }
                sessions.add(s);
                nodes.put(n.name(), new NodeRound(n.name(), true, 0, 0, null, s.clockSkewMillis()));
            } catch (IbexException e) {
                String why = Redactor.text(e.getMessage());
                errors.add(why);
                nodes.put(n.name(), new NodeRound(n.name(), false, 0, 0, why, null));
                if (pool != null) {
                    down.failed(n.name(), why, pool);
                }
            }
        }
    }

    /** Which ledgers each node has, or null when a node cannot tell (every table then runs its round). */
    private static ChangedTables readLedgers(List<NodeSession> sessions) {
        try {
            return ChangedTables.read(sessions);
        } catch (SQLException e) {
            return null;
        }
    }

    /** The tables with something to read this round; all of them when the nodes cannot tell. */
    private static Set<TableRef> changedTables(ChangedTables probe, List<TableSettings> tables, List<NodeSession> sessions,
                                               Map<String, TxId> boundaries) {
        if (sessions.size() < 2) {
            return Set.of();
        }
        try {
            if (probe != null) {
                return probe.sinceWatermarks(tables, sessions, boundaries);
            }
        } catch (SQLException e) {
            // fall through: every table runs its round, which reports what fails
        }
        return tables.stream().map(TableSettings::table).collect(java.util.stream.Collectors.toSet());
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

    private static NodeId byOrdinal(SyncSettings sync, int ordinal) {
        return sync.nodes().stream().filter(n -> n.ordinal() == ordinal).findFirst()
                .orElse(new NodeId("#" + ordinal, ordinal));
    }

    /**
     * True when some node already has changes past this round's boundary. Wake-up flags are
     * cleared first: a write after this check notifies, a write before it is seen by it.
     */
    private static boolean moreWork(SyncSettings sync, ChangedTables probe, List<NodeSession> sessions, Map<String, TxId> boundaries) {
        if (sessions.size() < 2) {
            return false;
        }
        for (NodeSession s : sessions) {
            try {
                s.clearWake(sync.name());
            } catch (SQLException e) {
                return true;
            }
        }
        try {
            return probe != null && probe.sinceBoundaries(sync.tables().stream().filter(t -> !t.paused()).toList(), sessions, boundaries);
        } catch (SQLException e) {
            return false;
        }
    }
}
