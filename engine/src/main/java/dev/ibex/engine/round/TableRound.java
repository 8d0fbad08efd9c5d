package dev.ibex.engine.round;

import dev.ibex.conflict.ConflictResolver;
import dev.ibex.conflict.Decision;
import dev.ibex.conflict.NodeId;
import dev.ibex.engine.CrashPoints;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.apply.ApplyResult;
import dev.ibex.engine.apply.ApplyWriter;
import dev.ibex.engine.apply.RowChange;
import dev.ibex.engine.capture.ShapeCheck;
import dev.ibex.engine.capture.TableInspector;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.db.SqlErrors;
import dev.ibex.engine.window.Snapshot;
import dev.ibex.engine.window.TxId;
import dev.ibex.engine.window.WatermarkStore;
import dev.ibex.engine.window.WindowPlanner;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.BooleanSupplier;
import java.util.function.IntFunction;

/**
 * One table's part of a round, source by source: each source's changes since the oldest watermark
 * its targets hold are streamed in chunks (sized by {@link ChunkSizer}, so memory is bounded by a
 * chunk, never by the backlog), every other node's side of each chunk is read, each key is decided
 * once for all nodes ({@link ChunkPlanner}), and each node gets what it lacks. A key changed on
 * several nodes comes up in the pass of each; the first decides it everywhere and the others find
 * it equal. A target's watermark for a source advances in the transaction of that source's last
 * chunk, and only if the whole pass reached it: no key deferred, no row skipped because an
 * application held it, no failed apply. A failing target does not stop the others. When the engine
 * stops, the round ends after the chunk in flight is applied on every target: those chunks stay
 * committed, the watermarks stay where they were, and the next round reads the same keys again
 * (already applied, they decide as equal).
 */
final class TableRound {
    /** What the table's round did, for the round's report. */
    record Result(long decided, long conflicts, long deferred, Map<String, Long> applied, Map<String, Long> skipped,
                  List<String> errors, Map<String, String> failed, boolean leftBehind, long stoppedAfter) {
    }

    private final String sync;
    private final TableRef table;
    private final List<NodeSession> sessions;
    private final Map<String, Snapshot> folds;
    private final Set<String> sources;
    private final ConflictResolver resolver;
    private final List<List<String>> chosenKeys;
    private final IntFunction<NodeId> byOrdinal;
    private final BooleanSupplier stopping;
    private final ConflictSink journal;

    private final Map<String, Long> applied = new LinkedHashMap<>();
    private final Map<String, Long> skipped = new LinkedHashMap<>();
    private final List<String> errors = new ArrayList<>();
    private final Map<String, String> failed = new LinkedHashMap<>();
    private long decided;
    private long conflicts;
    private long deferred;
    private long chunks;
    private boolean stopped;
    private boolean leftBehind;

    /**
     * @param folds      per node of the round, the snapshot of its fold this round
     * @param sources    the nodes whose changes to this table some target lacks (all, when unknown)
     * @param chosenKeys keys with an operator's choice waiting to be applied ({@code manual}); they are
     *                   decided in this round whether or not they changed
     */
    TableRound(String sync, TableRef table, List<NodeSession> sessions, Map<String, Snapshot> folds, Set<String> sources,
               ConflictResolver resolver, List<List<String>> chosenKeys, IntFunction<NodeId> byOrdinal, BooleanSupplier stopping,
               ConflictSink journal) {
        this.sync = sync;
        this.table = table;
        this.sessions = sessions;
        this.folds = folds;
        this.sources = sources;
        this.resolver = resolver;
        this.chosenKeys = chosenKeys;
        this.byOrdinal = byOrdinal;
        this.stopping = stopping;
        this.journal = journal;
    }

    Result run() throws SQLException {
        TableShape shape = shape();
        Map<String, Map<String, TxId>> marks = new HashMap<>();
        for (NodeSession s : sessions) {
            marks.put(s.node.name(), WatermarkStore.of(s.reader, table.ledgerName()));
        }
        Map<String, TxId> from = WindowPlanner.from(sessions.stream().map(s -> s.node.name()).toList(), marks);
        Pass pass = new Pass(shape);
        for (NodeSession source : sessions) {
            if (!stopped && sources.contains(source.node.name())) {
                pass.run(source, from.get(source.node.name()));
            }
        }
        if (!stopped && !chosenKeys.isEmpty()) {
            pass.choices();
        }
        return new Result(decided, conflicts, deferred, applied, skipped, errors, failed, leftBehind || !failed.isEmpty(),
                stopped ? chunks : -1);
    }

    /** The statements and readers of one table shape, used by every source's pass. */
    private final class Pass {
        private final TableShape shape;
        private final SideReader reader;
        private final ApplyWriter writer;
        /** Targets that skipped rows an application held locked in this pass: their watermark for the source stays. */
        private final Set<String> busy = new HashSet<>();
        private long chunkChars;
        private long chunkDeferred;

        Pass(TableShape shape) {
            this.shape = shape;
            this.reader = new SideReader(shape, resolver.needsBase());
            this.writer = new ApplyWriter(shape, resolver.needsBase());
        }

        /** Streams, decides and applies one source's changes since {@code from}. */
        void run(NodeSession source, TxId from) throws SQLException {
            String name = source.node.name();
            busy.clear();
            source.reader.setAutoCommit(false);
            try (ChangeStream stream = new ChangeStream(source.reader, source.node, shape, reader, folds.get(name), from, byOrdinal)) {
                boolean deferredAny = false;
                int size = ChunkSizer.next(0, 0);
                while (stream.hasNext()) {
                    List<ChangeStream.Change> chunk = stream.next(size);
                    boolean last = !stream.hasNext();
                    List<List<String>> keys = chunk.stream().map(ChangeStream.Change::key).toList();
                    Map<String, List<KeySide>> sides = new LinkedHashMap<>();
                    sides.put(name, chunk.stream().map(ChangeStream.Change::side).toList());
                    List<NodeSession> others = sessions.stream().filter(s -> s != source).toList();
                    List<List<KeySide>> read = PerNode.each(others, s -> reader.versions(s.reader, s.node, folds.get(s.node.name()),
                            byOrdinal, keys));
                    for (int i = 0; i < others.size(); i++) {
                        sides.put(others.get(i).node.name(), read.get(i));
                    }
                    Map<String, List<RowChange>> changes = decide(keys, sides, name, Set.of());
                    deferredAny |= chunkDeferred > 0;
                    TxId mark = new TxId(stream.newest().value() + 1);
                    boolean complete = last && !deferredAny;
                    apply(changes, target -> complete && !target.equals(name) ? Map.of(name, mark) : Map.of());
                    size = ChunkSizer.next(keys.size(), chunkChars);
                    chunks++;
                    if (!last && stopping.getAsBoolean()) {
                        stopped = true;
                        return;
                    }
                }
                leftBehind |= deferredAny || !busy.isEmpty();
            } finally {
                source.endRead();
            }
        }

        /** Decides the keys that have an operator's choice, whether or not they changed. */
        void choices() {
            busy.clear();
            Map<String, List<KeySide>> sides = new LinkedHashMap<>();
            sessions.forEach(s -> sides.put(s.node.name(), List.of()));
            Map<String, List<RowChange>> changes = decide(chosenKeys, sides, null, Set.copyOf(chosenKeys));
            apply(changes, target -> Map.of());
            leftBehind |= !busy.isEmpty();
        }

        /** Triage from versions, then every row for the keys that need them; journals the conflicts. */
        private Map<String, List<RowChange>> decide(List<List<String>> keys, Map<String, List<KeySide>> sides, String source,
                                                    Set<List<String>> slow) {
            ChunkPlanner.Triage t = source == null ? new ChunkPlanner.Triage(new LinkedHashMap<>(), range(keys.size()), 0)
                    : ChunkPlanner.triage(keys, sides, source, slow, resolver.needsBase());
            Map<String, List<RowChange>> changes = new LinkedHashMap<>(t.changes());
            chunkDeferred = t.deferred();
            chunkChars = sides.getOrDefault(source, List.of()).stream().mapToLong(ChunkSizer::chars).sum();
            List<Decision> conflicted = new ArrayList<>();
            if (!t.slow().isEmpty()) {
                List<List<String>> slowKeys = t.slow().stream().map(keys::get).toList();
                List<List<KeySide>> full;
                try {
                    full = PerNode.each(sessions, s -> reader.rows(s.reader, s.node, folds.get(s.node.name()), byOrdinal, slowKeys));
                } catch (SQLException e) {
                    throw new IbexException("table " + table + ": reading rows: " + e.getMessage(), e);
                }
                for (int i = 0; i < slowKeys.size(); i++) {
                    final int k = i;
                    List<KeySide> all = full.stream().map(l -> l.get(k)).toList();
                    chunkChars += all.stream().mapToLong(ChunkSizer::chars).sum();
                    ChunkPlanner.Outcome o;
                    try {
                        o = ChunkPlanner.decide(table.toString(), slowKeys.get(i), all, resolver);
                    } catch (RuntimeException e) {
                        throw new IbexException("table " + table + ", key " + slowKeys.get(i) + ": strategy " + resolver.name()
                                + " failed: " + e + "; fix the resolver (rows of this table are not applied until then)", e);
                    }
                    if (o.deferred()) {
                        chunkDeferred++;
                        continue;
                    }
                    if (o.decision().merged()) {
                        requireSameShape(shape, slowKeys.get(i), o.decision());
                    }
                    if (o.decision().conflicted()) {
                        conflicted.add(o.decision());
                    }
                    o.changes().forEach((n, c) -> changes.computeIfAbsent(n, x -> new ArrayList<>()).add(c));
                }
            }
            decided += keys.size() - chunkDeferred;
            deferred += chunkDeferred;
            CrashPoints.reach(CrashPoints.CHUNK_DECIDED);
            conflicts += conflicted.size();
            journal.record(sync, table, conflicted);
            CrashPoints.reach(CrashPoints.JOURNAL_WRITTEN);
            return changes;
        }

        /** Applies each target's rows, with the watermarks {@code marks} gives it (none after a busy row or a failure). */
        private void apply(Map<String, List<RowChange>> changes, java.util.function.Function<String, Map<String, TxId>> marks) {
            List<NodeSession> targets = sessions.stream().filter(s -> !failed.containsKey(s.node.name())).toList();
            for (NodeSession s : targets) {
                String n = s.node.name();
                List<RowChange> rows = changes.getOrDefault(n, List.of());
                Map<String, TxId> m = busy.contains(n) ? Map.of() : marks.apply(n);
                if (rows.isEmpty() && m.isEmpty()) {
                    continue;
                }
                try {
                    ApplyResult r = writer.apply(s.writer, n, rows, folds.get(n), m);
                    if (r.busy() > 0) {
                        busy.add(n);
                    }
                    if (!m.isEmpty() && s != targets.get(targets.size() - 1)) {
                        CrashPoints.reach(CrashPoints.TARGET_COMMITTED);
                    }
                    applied.merge(n, r.applied(), Long::sum);
                    skipped.merge(n, r.skipped() + r.busy(), Long::sum);
                } catch (IbexException e) {
                    if (rejected(e)) {
                        throw stall(s, rows, e);
                    }
                    failed.put(n, e.getMessage());
                    errors.add(e.getMessage());
                }
            }
        }

        /**
         * Finds the row a node rejects by applying the chunk's rows one at a time (rows it accepts are
         * correct decisions and stay applied), and describes the stall with the key and the error.
         */
        private TableStall stall(NodeSession s, List<RowChange> rows, IbexException e) {
            for (RowChange c : rows) {
                try {
                    writer.apply(s.writer, s.node.name(), List.of(c), folds.get(s.node.name()), Map.of());
                } catch (IbexException one) {
                    if (rejected(one)) {
                        return new TableStall("node " + s.node + " rejected key " + c.key() + " of table " + table + ": "
                                + Redactor.firstLine(SqlErrors.message(one)) + "; fix the row or the constraint on node " + s.node
                                + ", then run " + resume(), one);
                    }
                }
            }
            return new TableStall("node " + s.node + " rejected rows of table " + table + " applied together ("
                    + Redactor.firstLine(SqlErrors.message(e)) + "), though it accepts each alone; fix the constraint on node " + s.node
                    + ", then run " + resume(), e);
        }
    }

    private static List<Integer> range(int n) {
        List<Integer> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(i);
        }
        return out;
    }

    /** A node refused rows for what they hold (a constraint or a value it does not accept), not for a passing reason. */
    private static boolean rejected(IbexException e) {
        String state = SqlErrors.state(e);
        return state != null && (state.startsWith("22") || state.startsWith("23"));
    }

    private String resume() {
        return "'ibex table resume " + sync + " " + table + "'";
    }

    /** A merged row from a custom resolver must have the table's columns and keep the key. */
    private void requireSameShape(TableShape shape, List<String> key, Decision d) {
        if (d.image() == null) {
            return;
        }
        boolean sameColumns = d.image().columns().equals(shape.columnNames());
        boolean sameKey = sameColumns && d.conflict().sides().stream().filter(dev.ibex.conflict.Side::present).findFirst()
                .map(s -> shape.key().stream().allMatch(k -> java.util.Objects.equals(s.image().get(k), d.image().get(k))))
                .orElse(true);
        if (!sameColumns || !sameKey) {
            throw new IbexException("table " + table + ", key " + key + ": strategy " + d.strategy() + " returned a row "
                    + (sameColumns ? "with a different key" : "with columns " + d.image().columns() + " instead of " + shape.columnNames())
                    + "; fix the resolver (rows of this table are not applied until then)");
        }
    }

    private TableShape shape() {
        Map<String, Optional<TableShape>> shapes = new LinkedHashMap<>();
        for (NodeSession s : sessions) {
            shapes.put(s.node.name(), TableInspector.inspect(s.reader, table));
        }
        List<String> problems = ShapeCheck.problems(table, shapes);
        if (!problems.isEmpty()) {
            throw new TableStall(String.join("; ", problems) + "; make the table the same on every node, then run "
                    + resume(), null);
        }
        return shapes.values().iterator().next().orElseThrow();
    }
}
