package dev.ibex.engine.install;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.capture.CaptureInstaller;
import dev.ibex.engine.capture.NodeSchema;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.RoundLocks;
import dev.ibex.engine.config.Strategies;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.db.SqlErrors;
import dev.ibex.engine.install.SchemaChangePlanner.SchemaChangePlan;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import java.util.stream.Collectors;

/**
 * Rolls one DDL script out to every node of a sync while applications write ({@code ibex schema
 * apply}). A dry run on one node decides what the script does ({@link SchemaChangePlanner}); the
 * sync's tables whose shape changes are paused and the sync's round lock is waited for once, so
 * that no round is reconciling them; then one transaction per node runs the script and reinstalls
 * capture for the changed and created tables, and only when every node has done so do they commit:
 * with two-phase commit where every node allows prepared transactions ({@link TwoPhaseCommit}),
 * else one after the other ({@link SerialCommit}). A node that refuses rolls every node back:
 * nothing changed anywhere, the tables resume. The tables stay paused, with each node's state in
 * the pause reason, only when a commit fails after another node committed (or, with two-phase
 * commit, prepared), until the operator or {@code --resolve} finishes the change.
 */
public final class SchemaChanger {
    /** Attempts of the whole rollout when a node's lock_timeout expires; the backoff doubles from {@link #BACKOFF}. */
    public static final int ATTEMPTS = 5;
    private static final Duration BACKOFF = Duration.ofMillis(250);
    private static final Duration ROUND_WAIT = Duration.ofMinutes(2);

    /** What the change did on one node: how long the script and the capture reinstall took there. */
    public record NodeResult(String node, long millis) {
    }

    /** The outcome: the tables paused and created, per node what ran, how long the tables were paused, attempts made. */
    public record SchemaChangeReport(String sync, List<TableRef> changed, List<TableRef> created, List<NodeResult> nodes,
                                     long pausedMillis, int attempts, boolean twoPhase) {
    }

    /** A node refused the script while others had not committed: every transaction was rolled back. */
    private static final class Refused extends Exception {
        final String node;
        final SQLException error;

        Refused(String node, SQLException error) {
            super(error);
            this.node = node;
            this.error = error;
        }
    }

    private final ControlStore control;
    private final NodeDirectory directory;
    private final Clock clock;

    public SchemaChanger(ControlStore control, NodeDirectory directory, Clock clock) {
        this.control = control;
        this.directory = directory;
        this.clock = clock;
    }

    /** Applies {@code script} to every node of sync {@code syncName}; progress lines go to {@code progress}. */
    public SchemaChangeReport apply(String syncName, String script, Duration lockTimeout, Consumer<String> progress) {
        if (script == null || script.isBlank()) {
            throw new UsageException("the script is empty: give the DDL with --sql or --file");
        }
        if (lockTimeout.isNegative() || lockTimeout.isZero()) {
            throw new UsageException("--lock-timeout must be positive, e.g. 5s");
        }
        SyncSettings sync = control.syncs().get(syncName);
        Map<NodeId, Connection> conns = directory.connectAll(sync.name(), sync.nodes(), "to change its schema");
        try {
            // the dry run and the capture reinstall use the node's own key rule (ibex.key_index) of this version
            sync.nodes().forEach(n -> NodeSchema.migrate(directory.pool(n.name())));
            resolveLeftovers(syncName, conns, progress);
            boolean twoPhase = twoPhase(conns);
            NodeId probe = sync.activeNodes().isEmpty() ? sync.nodes().get(0) : sync.activeNodes().get(0);
            Set<TableRef> tables = sync.tables().stream().map(TableSettings::table).collect(Collectors.toSet());
            SchemaChangePlan plan = SchemaChangePlanner.plan(syncName, tables, dryRun(probe, script, tables, lockTimeout, progress));
            for (TableRef t : plan.created()) {
                control.tables().syncOf(t).ifPresent(owner -> {
                    throw new UsageException("the script creates table " + t + ", which the control database lists in sync " + owner
                            + "; remove it there first with 'ibex table remove " + owner + " " + t + "'");
                });
            }
            progress.accept("dry run on node " + probe + ": " + describe(plan));
            return rollOut(sync, plan, script, lockTimeout, conns, twoPhase, progress);
        } finally {
            conns.values().forEach(SchemaChanger::closeQuietly);
        }
    }

    /**
     * Resolves what an earlier two-phase change of sync {@code syncName} left prepared on its nodes
     * (commits it where every node had prepared it, else rolls it back) and resumes its tables;
     * returns how many changes it resolved.
     */
    public int resolve(String syncName, Consumer<String> progress) {
        SyncSettings sync = control.syncs().get(syncName);
        Map<NodeId, Connection> conns = directory.connectAll(syncName, sync.nodes(), "to change its schema");
        try {
            return resolveLeftovers(syncName, conns, progress);
        } finally {
            conns.values().forEach(SchemaChanger::closeQuietly);
        }
    }

    private int resolveLeftovers(String sync, Map<NodeId, Connection> conns, Consumer<String> progress) {
        List<PreparedChanges.Resolved> resolved = new PreparedChanges(control).resolve(sync, conns);
        for (PreparedChanges.Resolved r : resolved) {
            r.done().forEach(line -> progress.accept("earlier change " + r.gid() + ": " + line));
            if (!r.complete()) {
                throw new IbexException("sync " + sync + ": schema change " + r.gid() + " is still prepared on some nodes (" + String.join("; ",
                        r.done()) + "); bring them back and run 'ibex schema apply " + sync + " --resolve' again");
            }
            resume(sync, r.paused().stream().filter(t -> control.tables().syncOf(t).isPresent()).toList());
        }
        return resolved.size();
    }

    private static boolean twoPhase(Map<NodeId, Connection> conns) {
        try {
            return PreparedChanges.supported(conns);
        } catch (SQLException e) {
            throw new IbexException("reading max_prepared_transactions: " + Redactor.firstLine(SqlErrors.message(e)) + "; nothing changed", e);
        }
    }

    /**
     * The dry run on node {@code probe}, tried again with backoff while a lock it needs is not
     * granted within the lock timeout (a round reading the table, a long application transaction).
     */
    private SchemaChangePlanner.DryRun dryRun(NodeId probe, String script, Set<TableRef> tables, Duration lockTimeout,
                                              Consumer<String> progress) {
        for (int attempt = 1; ; attempt++) {
            try {
                return SchemaProbe.dryRun(directory.pool(probe.name()), probe.name(), script, tables, lockTimeout);
            } catch (IbexException e) {
                if (!SqlErrors.isLockNotAvailable(e) || attempt == ATTEMPTS) {
                    throw e;
                }
                Duration wait = BACKOFF.multipliedBy(1L << (attempt - 1));
                progress.accept("node " + probe + ": the dry run waited " + lockTimeout.toMillis() + " ms for a table lock; trying again in "
                        + wait.toMillis() + " ms");
                LockSupport.parkNanos(wait.toNanos());
            }
        }
    }

    private SchemaChangeReport rollOut(SyncSettings sync, SchemaChangePlan plan, String script, Duration lockTimeout,
                                       Map<NodeId, Connection> conns, boolean twoPhase, Consumer<String> progress) {
        Instant pausedAt = clock.instant();
        List<TableRef> paused = sync.tables().stream().filter(t -> !t.paused() && plan.changed().contains(t.table()))
                .map(TableSettings::table).toList();
        if (!paused.isEmpty()) {
            control.tables().setPaused(sync.name(), paused, true, "schema change in progress since " + pausedAt + ": "
                    + Redactor.firstLine(script.strip()));
            try (RoundLocks.RoundLock waited = control.rounds().lock(sync.name(), ROUND_WAIT)) {
                // a round that started before the pause has finished; later rounds leave the tables out
            } catch (RuntimeException e) {
                resume(sync.name(), paused);
                throw e;
            }
            progress.accept("paused " + paused + " at a round boundary");
        }
        List<NodeResult> results = new ArrayList<>();
        int attempt = 1;
        try {
            while (true) {
                try {
                    results = runEverywhere(sync, plan, script, lockTimeout, conns, progress);
                    break;
                } catch (Refused r) {
                    if (!SqlErrors.isLockNotAvailable(r.error) && !"40P01".equals(r.error.getSQLState()) || attempt == ATTEMPTS) {
                        throw new IbexException("node " + r.node + " refused the change: " + Redactor.firstLine(SqlErrors.message(r.error))
                                + (attempt > 1 ? " (after " + attempt + " attempts)" : "") + "; it was rolled back on every node, nothing "
                                + "changed" + (paused.isEmpty() ? "" : " and " + paused + " resumed"), r.error);
                    }
                    Duration wait = BACKOFF.multipliedBy(1L << (attempt - 1));
                    progress.accept("node " + r.node + ": a lock was not granted within " + lockTimeout.toMillis() + " ms (a long "
                            + "transaction holds the table); rolled back everywhere, trying again in " + wait.toMillis() + " ms");
                    LockSupport.parkNanos(wait.toNanos());
                    attempt++;
                }
            }
        } catch (RuntimeException e) {
            resume(sync.name(), paused);
            throw e;
        }
        if (twoPhase) {
            new TwoPhaseCommit(new PreparedChanges(control), sync.name(), paused, conns, progress, this::resume).commit(script);
        } else {
            new SerialCommit(control, sync.name(), paused, conns, progress, this::resume).commit();
        }
        if (!plan.created().isEmpty()) {
            control.tables().add(sync.name(), plan.created().stream().map(t -> new TableSettings(t, null, false, null)).toList());
        }
        resume(sync.name(), paused);
        long pausedMillis = paused.isEmpty() ? 0 : Duration.between(pausedAt, clock.instant()).toMillis();
        return new SchemaChangeReport(sync.name(), plan.changed(), plan.created(), results, pausedMillis, attempt, twoPhase);
    }

    /** Runs the script and reinstalls capture in an open transaction on every node; on any error every node is rolled back. */
    private List<NodeResult> runEverywhere(SyncSettings sync, SchemaChangePlan plan, String script, Duration lockTimeout,
                                           Map<NodeId, Connection> conns, Consumer<String> progress) throws Refused {
        List<NodeResult> out = new ArrayList<>();
        for (Map.Entry<NodeId, Connection> e : conns.entrySet()) {
            NodeId n = e.getKey();
            Connection c = e.getValue();
            long started = System.nanoTime();
            try {
                c.setAutoCommit(false);
                try (Statement st = c.createStatement()) {
                    st.execute("set local lock_timeout = " + lockTimeout.toMillis());
                    st.execute(script);
                }
                for (TableRef t : concat(plan.changed(), plan.created())) {
                    CaptureInstaller.install(c, n.name(), sync.name(), t, n.ordinal(), needsBase(sync, t));
                }
            } catch (SQLException | IbexException ex) {
                rollback(conns);
                throw new Refused(n.name(), ex instanceof SQLException s ? s : sqlCause(ex));
            }
            long millis = Duration.ofNanos(System.nanoTime() - started).toMillis();
            out.add(new NodeResult(n.name(), millis));
            progress.accept("node " + n + ": change run in " + millis + " ms, not committed yet");
        }
        return out;
    }

    void resume(String sync, List<TableRef> paused) {
        if (!paused.isEmpty()) {
            control.tables().setPaused(sync, paused, false, null);
        }
        control.rounds().kick(sync);
    }

    private static boolean needsBase(SyncSettings sync, TableRef t) {
        TableSettings settings = sync.tables().stream().filter(s -> s.table().equals(t)).findFirst()
                .orElse(new TableSettings(t, null, false, null));
        return Strategies.needsBase(sync.strategyFor(settings));
    }

    private static String describe(SchemaChangePlan plan) {
        List<String> parts = new ArrayList<>();
        if (!plan.changed().isEmpty()) {
            parts.add("changes the shape of " + plan.changed());
        }
        if (!plan.created().isEmpty()) {
            parts.add("creates " + plan.created() + " (they join the sync)");
        }
        return parts.isEmpty() ? "changes no table's columns or key" : String.join(", ", parts);
    }

    private static List<TableRef> concat(List<TableRef> a, List<TableRef> b) {
        List<TableRef> out = new ArrayList<>(a);
        out.addAll(b);
        return out;
    }

    private static SQLException sqlCause(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof SQLException s) {
                return s;
            }
        }
        return new SQLException(t.getMessage(), (String) null, t);
    }

    static void rollback(Map<NodeId, Connection> conns) {
        conns.values().forEach(SchemaChanger::rollbackQuietly);
    }

    static boolean rollbackQuietly(Connection c) {
        try {
            if (!c.getAutoCommit()) {
                c.rollback();
                c.setAutoCommit(true);
            }
            return true;
        } catch (SQLException ignored) {
            return false; // the connection is broken; its transaction ends with it
        }
    }

    private static void closeQuietly(Connection c) {
        try {
            c.close();
        } catch (SQLException ignored) {
            // nothing to do
        }
    }
}
