package dev.ibex.engine.round;

import dev.ibex.conflict.ConflictResolver;
import dev.ibex.conflict.Decision;
import dev.ibex.conflict.NodeId;
import dev.ibex.engine.CrashPoints;
import dev.ibex.engine.fence.Fence;
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
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.function.IntFunction;
import java.util.stream.IntStream;

/**
 * One table's part of a round, source by source: each source's changes since the oldest watermark
 * its targets hold are streamed in chunks (sized by {@link ChunkSizer}, so memory is bounded by a
 * chunk, never by the backlog), every other node's version of each chunk's keys is read, each key is
 * decided once for all nodes ({@link ChunkPlanner}), and each node gets what it lacks. While the
 * targets apply a chunk, the next one is read and decided. A key changed on several nodes comes up in the pass of each; the first decides it everywhere and the
 * others find it equal. A target's watermark for a source advances in the transaction of that
 * source's last chunk, and only if the whole pass reached it: no key deferred, no row skipped
 * because an application held it, no failed apply. A failing target does not stop the others. When
 * the engine stops, the round ends after the chunk in flight is applied on every target: those
 * chunks stay committed, the watermarks stay where they were, and the next round reads the same keys
 * again (already applied, they decide as equal).
 */
final class TableRound {
    /**
     * What the table's round did, for the round's report; {@code behind}: per source whose changes
     * the round read, the targets it did not bring up to date with everything that source's fold
     * took (a source absent from it had nothing another node lacked).
     */
    record Result(long decided, long conflicts, long deferred, Map<String, Long> applied, Map<String, Long> skipped,
                  List<String> errors, Map<String, String> failed, boolean leftBehind, long stoppedAfter,
                  Map<String, Set<String>> behind) {
    }

    /** Where each source's chunks are read and decided while the round's thread applies the previous one. */
    private static final ExecutorService PIPELINE = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "ibex-round-read");
        t.setDaemon(true);
        return t;
    });

    private final Fence fence;
    private final TableRef table;
    private final List<NodeSession> sessions;
    private final Map<String, Snapshot> folds;
    private final ChangedTables.TableState state;
    private final ConflictResolver resolver;
    private final List<List<String>> chosenKeys;
    private final Map<List<String>, Repair> repairs;
    private final IntFunction<NodeId> byOrdinal;
    private final BooleanSupplier stopping;
    private final ConflictSink journal;

    private final Map<String, Long> applied = new LinkedHashMap<>();
    private final Map<String, Long> skipped = new LinkedHashMap<>();
    private final List<String> errors = new ArrayList<>();
    private final Map<String, String> failed = new LinkedHashMap<>();
    private final Map<String, Set<String>> behind = new LinkedHashMap<>();
    private long decided;
    private long conflicts;
    private long deferred;
    private long chunks;
    private boolean stopped;
    private boolean leftBehind;

    /**
     * @param fence      the epoch the round's sync is owned at: every transaction it writes checks it
     * @param folds      per node of the round, the snapshot of its fold this round
     * @param state      what the round read of this table: the nodes whose changes to it some other node
     *                   lacks, its definitions and watermarks (read here when the round could not)
     * @param chosenKeys keys with an operator's choice waiting to be applied ({@code manual}); they are
     *                   decided in this round whether or not they changed
     * @param repairs    keys an operator repairs from one node, any strategy; they are among {@code chosenKeys}
     */
    TableRound(Fence fence, TableRef table, List<NodeSession> sessions, Map<String, Snapshot> folds, ChangedTables.TableState state,
               ConflictResolver resolver, List<List<String>> chosenKeys, Map<List<String>, Repair> repairs,
               IntFunction<NodeId> byOrdinal, BooleanSupplier stopping, ConflictSink journal) {
        this.fence = fence;
        this.table = table;
        this.sessions = sessions;
        this.folds = folds;
        this.state = state;
        this.resolver = resolver;
        this.chosenKeys = chosenKeys;
        this.repairs = repairs;
        this.byOrdinal = byOrdinal;
        this.stopping = stopping;
        this.journal = journal;
    }

    Result run() throws SQLException {
        TableShape shape = shape();
        Map<String, Map<String, TxId>> marks = state.marks();
        if (marks == null) {
            marks = new HashMap<>();
            List<Map<String, TxId>> read = PerNode.each(sessions, s -> WatermarkStore.of(s.reader, table.ledgerName()));
            for (int i = 0; i < sessions.size(); i++) {
                marks.put(sessions.get(i).node.name(), read.get(i));
            }
        }
        Map<String, TxId> from = WindowPlanner.from(sessions.stream().map(s -> s.node.name()).toList(), marks);
        Pass pass = new Pass(shape);
        for (NodeSession source : sessions) {
            if (!stopped && state.sources().contains(source.node.name())) {
                pass.run(source, from.get(source.node.name()));
            }
        }
        if (!stopped && !chosenKeys.isEmpty()) {
            pass.choices();
        }
        return new Result(decided, conflicts, deferred, applied, skipped, errors, failed, leftBehind || !failed.isEmpty(),
                stopped ? chunks : -1, behind);
    }

    /** One decided chunk on its way to the targets, or the end of a stream, or what ended it. */
    private record Planned(Map<String, List<RowChange>> changes, boolean last, boolean deferredAny, TxId mark,
                           RuntimeException failure) {
        static final Planned END = new Planned(Map.of(), true, false, null, null);
    }

    /** The statements and readers of one table shape, used by every source's pass. */
    private final class Pass {
        private final TableShape shape;
        private final SideReader reader;
        private final ApplyWriter writer;
        /** Targets whose watermark for the source must stay this pass: busy rows, or keys they deferred. */
        private final Set<String> held = new HashSet<>();
        /** Keys of this pass held for an operator's choice ({@code manual}): no target has their changes. */
        private long heldForOperator;

        Pass(TableShape shape) {
            this.shape = shape;
            this.reader = new SideReader(shape, resolver.needsBase());
            this.writer = new ApplyWriter(shape, resolver.needsBase(), fence);
        }

        /**
         * Streams, decides and applies one source's changes since {@code from}. The first chunk is read
         * and decided on this thread; if the stream holds more, the rest are read and decided on another
         * while this one applies the previous chunk (handed over one at a time, so at most two chunks are
         * in memory). A stream of one chunk, a round's usual case under steady writes, never leaves this
         * thread.
         */
        void run(NodeSession source, TxId from) throws SQLException {
            String name = source.node.name();
            held.clear();
            heldForOperator = 0;
            Set<String> targets = new HashSet<>();
            sessions.stream().map(s -> s.node.name()).filter(n -> !n.equals(name)).forEach(targets::add);
            behind.put(name, targets);
            try (ChangeStream stream = new ChangeStream(source.streamer(), source.node, shape, folds.get(name), from, byOrdinal)) {
                Producer producer = new Producer(stream, source);
                Planned first = producer.next();
                boolean complete;
                if (first.last()) {
                    complete = consume(first, () -> {
                        throw new IllegalStateException("no chunk after the last");
                    }, name);
                } else {
                    SynchronousQueue<Planned> handoff = new SynchronousQueue<>();
                    AtomicBoolean halt = new AtomicBoolean();
                    Future<?> rest = PIPELINE.submit(() -> producer.rest(handoff, halt));
                    try {
                        complete = consume(first, () -> take(handoff), name);
                    } finally {
                        halt.set(true);
                        handoff.poll();
                        awaitQuietly(rest);
                    }
                }
                if (complete && heldForOperator == 0) {
                    targets.removeIf(t -> !held.contains(t) && !failed.containsKey(t));
                }
            }
        }

        /** Reads and decides one source's chunks in order, one per call, on whichever thread calls. */
        private final class Producer {
            private final ChangeStream stream;
            private final String name;
            private final List<NodeSession> others;
            private boolean deferredAny;
            /** The lowest position of a key deferred for another node's change: the next round reads from there. */
            private TxId reread;
            private int size = ChunkSizer.next(0, 0);

            Producer(ChangeStream stream, NodeSession source) {
                this.stream = stream;
                this.name = source.node.name();
                this.others = sessions.stream().filter(s -> s != source).toList();
            }

            /** The next chunk decided: {@link Planned#END} for an empty stream, or what failed (the last then). */
            Planned next() {
                try {
                    if (!stream.hasNext()) {
                        return Planned.END;
                    }
                    return decideNext();
                } catch (SQLException e) {
                    return new Planned(null, true, false, null, new IbexException("table " + table + ": reading rows: "
                            + e.getMessage(), e));
                } catch (RuntimeException e) {
                    return new Planned(null, true, false, null, e);
                }
            }

            /**
             * Hands over every chunk after the first, until the last one or the consumer's halt. What
             * {@link #next} does not turn into a failure (an {@link Error}, from a custom resolver for
             * one) is handed over as one too, so that the round, waiting for the next chunk, fails
             * instead of waiting forever; the JVM's own errors go on up this thread afterwards.
             */
            void rest(SynchronousQueue<Planned> handoff, AtomicBoolean halt) {
                while (!halt.get()) {
                    Planned p;
                    try {
                        p = next();
                    } catch (Error e) {
                        hand(handoff, halt, new Planned(null, true, false, null, new IbexException("table " + table
                                + ": deciding changes failed: " + e, e)));
                        if (e instanceof VirtualMachineError) {
                            throw e;
                        }
                        return;
                    }
                    if (!hand(handoff, halt, p) || p.last()) {
                        return;
                    }
                }
            }

            private Planned decideNext() throws SQLException {
                List<ChangeStream.Change> chunk = stream.next(size, ChunkSizer.BUDGET_CHARS);
                boolean last = !stream.hasNext();
                List<List<String>> keys = chunk.stream().map(ChangeStream.Change::key).toList();
                List<KeySide> sourceSides = chunk.stream().map(ChangeStream.Change::side).toList();
                List<TxId> positions = chunk.stream().map(ChangeStream.Change::position).toList();
                long chars = sourceSides.stream().mapToLong(ChunkSizer::chars).sum();
                Map<String, List<KeySide>> sides = new LinkedHashMap<>();
                sides.put(name, sourceSides);
                List<List<KeySide>> read = PerNode.each(others, s -> reader.versions(s.reader, s.node, folds.get(s.node.name()),
                        byOrdinal, keys));
                for (int i = 0; i < others.size(); i++) {
                    sides.put(others.get(i).node.name(), read.get(i));
                }
                ChunkPlanner.Triage t = ChunkPlanner.triage(keys, sides, name, Set.of(), resolver.needsBase());
                Decided d = decideRows(t, t.slow().stream().map(keys::get).toList(), keys.size());
                deferredAny |= !d.deferred().isEmpty();
                reread = ChunkPlanner.rereadFrom(reread, d.deferred(), sourceSides, positions);
                size = ChunkSizer.next(keys.size(), chars + d.chars());
                TxId past = new TxId(stream.newest().value() + 1);
                return new Planned(d.changes(), last, deferredAny, reread == null ? past : TxId.min(reread, past), null);
            }
        }

        /** Hands a chunk over, unless the consumer stopped taking; false then. */
        private boolean hand(SynchronousQueue<Planned> handoff, AtomicBoolean halt, Planned p) {
            try {
                while (!halt.get()) {
                    if (handoff.offer(p, 100, TimeUnit.MILLISECONDS)) {
                        return true;
                    }
                }
                return false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }

        /** The next chunk the producer hands over. */
        private Planned take(SynchronousQueue<Planned> handoff) {
            try {
                return handoff.take();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IbexException("table " + table + ": interrupted while applying", e);
            }
        }

        /**
         * Applies {@code first} and the chunks {@code more} gives after it, in order, until the last one,
         * a failure, or the engine's stop; true when it applied the last one with no key deferred (or
         * there was none).
         */
        private boolean consume(Planned first, java.util.function.Supplier<Planned> more, String name) {
            Planned p = first;
            while (true) {
                if (p.failure() != null) {
                    throw p.failure();
                }
                if (p == Planned.END) {
                    return true;
                }
                // a deferred key holds the watermark back only as far as its own position (the plan's mark)
                Planned chunk = p;
                boolean complete = chunk.last() && !chunk.deferredAny();
                Function<String, Map<String, TxId>> marks = target -> chunk.last() && !target.equals(name) && !held.contains(target)
                        ? Map.of(name, chunk.mark()) : Map.of();
                apply(chunk.changes(), marks);
                chunks++;
                if (chunk.last()) {
                    leftBehind |= chunk.deferredAny() || !held.isEmpty();
                    return complete;
                }
                if (stopping.getAsBoolean()) {
                    stopped = true;
                    return false;
                }
                p = more.get();
            }
        }

        /**
         * Decides the keys that have an operator's choice or repair, whether or not they changed. A
         * repair is marked applied once every target took it (or already held it), superseded when a
         * node changed the key since the validation; a deferred one waits for the next round.
         */
        void choices() {
            held.clear();
            List<List<String>> repaired = new ArrayList<>();
            List<List<String>> superseded = new ArrayList<>();
            ChunkPlanner.Triage all = new ChunkPlanner.Triage(Map.of(), IntStream.range(0, chosenKeys.size()).boxed().toList(), List.of());
            Decided d = decideRows(all, chosenKeys, chosenKeys.size(), repaired, superseded);
            apply(d.changes(), target -> Map.of());
            leftBehind |= !held.isEmpty();
            if (!repaired.isEmpty() || !superseded.isEmpty()) {
                boolean everywhere = held.isEmpty() && failed.isEmpty();
                journal.repaired(fence, table, everywhere ? repaired : List.of(), superseded);
            }
        }

        /** Rows to apply and the keys deferred (indexes into the chunk), with the row text read to decide them. */
        private record Decided(Map<String, List<RowChange>> changes, List<Integer> deferred, long chars) {
        }

        /**
         * Adds to what triage settled the keys that need every node's row: reads them everywhere,
         * decides each, and journals the conflicts before anything of the chunk is applied.
         *
         * @param keys    the keys of {@code t.slow()}, in its order
         * @param counted how many keys to count as decided (less those deferred)
         */
        private Decided decideRows(ChunkPlanner.Triage t, List<List<String>> keys, int counted) {
            return decideRows(t, keys, counted, null, null);
        }

        /**
         * As above; with {@code repaired} non-null, keys under an operator's repair are decided by it
         * and collected in {@code repaired}, or in {@code superseded} when changed since.
         */
        private Decided decideRows(ChunkPlanner.Triage t, List<List<String>> keys, int counted, List<List<String>> repaired,
                                   List<List<String>> superseded) {
            Map<String, List<RowChange>> changes = new LinkedHashMap<>();
            t.changes().forEach((n, c) -> changes.put(n, new ArrayList<>(c)));
            List<Integer> later = new ArrayList<>(t.deferred());
            long chars = 0;
            List<Decision> conflicted = new ArrayList<>();
            if (!keys.isEmpty()) {
                List<List<KeySide>> full;
                try {
                    full = PerNode.each(sessions, s -> reader.rows(s.reader, s.node, folds.get(s.node.name()), byOrdinal, keys));
                } catch (SQLException e) {
                    throw new IbexException("table " + table + ": reading rows: " + e.getMessage(), e);
                }
                for (int i = 0; i < keys.size(); i++) {
                    final int k = i;
                    List<KeySide> all = full.stream().map(l -> l.get(k)).toList();
                    // a key decided with every row holds those rows, its decision and the rows it sends, as
                    // many objects again as the key itself
                    chars += ChunkSizer.KEY_OVERHEAD + all.stream().mapToLong(ChunkSizer::chars).sum();
                    ChunkPlanner.Outcome o = null;
                    Repair repair = repaired == null ? null : repairs.get(keys.get(i));
                    if (repair != null) {
                        o = ChunkPlanner.repair(keys.get(i), all, repair);
                        if (o == null) {
                            superseded.add(keys.get(i));
                        } else if (!o.deferred()) {
                            repaired.add(keys.get(i));
                        }
                    }
                    try {
                        o = o != null ? o : ChunkPlanner.decide(table.toString(), keys.get(i), all, resolver);
                    } catch (RuntimeException e) {
                        throw new IbexException("table " + table + ", key " + keys.get(i) + ": strategy " + resolver.name()
                                + " failed: " + e + "; fix the resolver (rows of this table are not applied until then)", e);
                    }
                    if (o.deferred()) {
                        later.add(t.slow().get(i));
                        continue;
                    }
                    if (o.decision().merged()) {
                        requireSameShape(shape, keys.get(i), o.decision());
                    }
                    if (o.decision().conflicted()) {
                        conflicted.add(o.decision());
                    }
                    if (o.decision().held()) {
                        heldForOperator++;
                    }
                    o.changes().forEach((n, c) -> changes.computeIfAbsent(n, x -> new ArrayList<>()).add(c));
                }
            }
            decided += counted - later.size();
            deferred += later.size();
            CrashPoints.reach(CrashPoints.CHUNK_DECIDED);
            conflicts += conflicted.size();
            journal.record(fence, table, conflicted);
            CrashPoints.reach(CrashPoints.JOURNAL_WRITTEN);
            return new Decided(changes, later, chars);
        }

        /** Applies each target's rows, with the watermarks {@code marks} gives it. */
        private void apply(Map<String, List<RowChange>> changes, Function<String, Map<String, TxId>> marks) {
            List<NodeSession> targets = sessions.stream().filter(s -> !failed.containsKey(s.node.name())).toList();
            for (NodeSession s : targets) {
                String n = s.node.name();
                List<RowChange> rows = changes.getOrDefault(n, List.of());
                Map<String, TxId> m = marks.apply(n);
                if (rows.isEmpty() && m.isEmpty()) {
                    continue;
                }
                try {
                    account(n, writer.apply(s.writer, n, rows, folds.get(n), m));
                    if (!m.isEmpty() && s != targets.get(targets.size() - 1)) {
                        CrashPoints.reach(CrashPoints.TARGET_COMMITTED);
                    }
                } catch (IbexException e) {
                    if (Fence.rejected(e)) {
                        // another engine took the sync: nothing more of this round may commit anywhere
                        throw Fence.asRejection("node " + n + ", table " + table, e).orElseThrow();
                    }
                    if (rejected(e)) {
                        throw stall(s, rows, e);
                    }
                    fail(n, e);
                }
            }
        }

        private void account(String node, ApplyResult r) {
            if (r.busy() > 0) {
                held.add(node);
            }
            applied.merge(node, r.applied(), Long::sum);
            skipped.merge(node, r.skipped() + r.busy(), Long::sum);
        }

        private void fail(String node, IbexException e) {
            failed.put(node, e.getMessage());
            errors.add(e.getMessage());
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

    private static void awaitQuietly(Future<?> f) {
        boolean interrupted = false;
        while (true) {
            try {
                f.get();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            } catch (java.util.concurrent.ExecutionException e) {
                break;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** A node refused rows for what they hold (a constraint or a value it does not accept), not for a passing reason. */
    private static boolean rejected(IbexException e) {
        return SqlErrors.isRejectedData(e);
    }

    private String resume() {
        return "'ibex table resume " + fence.sync() + " " + table + "'";
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

    private TableShape shape() throws SQLException {
        Map<String, Optional<TableShape>> shapes = state.shapes();
        if (shapes == null) {
            shapes = new LinkedHashMap<>();
            List<Optional<TableShape>> read = PerNode.each(sessions, s -> TableInspector.inspect(s.reader, table));
            for (int i = 0; i < sessions.size(); i++) {
                shapes.put(sessions.get(i).node.name(), read.get(i));
            }
        }
        List<String> problems = ShapeCheck.problems(table, shapes);
        if (!problems.isEmpty()) {
            throw new TableStall(String.join("; ", problems) + "; make the table the same on every node, then run "
                    + resume(), null);
        }
        return shapes.values().iterator().next().orElseThrow();
    }
}
