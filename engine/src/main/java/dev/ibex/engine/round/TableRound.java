package dev.ibex.engine.round;

import dev.ibex.conflict.ConflictResolver;
import dev.ibex.conflict.Decider;
import dev.ibex.conflict.Decision;
import dev.ibex.conflict.NodeId;
import dev.ibex.conflict.Side;
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
import dev.ibex.engine.window.TxId;
import dev.ibex.engine.window.Window;
import dev.ibex.engine.window.WindowPlanner;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
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
 * One table's part of a round: plan the windows, stream and merge the changed keys of every
 * source in chunks (sized by {@link ChunkPlanner}, so that memory is bounded by a chunk, never by the
 * backlog or a transaction), read every node's side of each chunk, decide each key once for all
 * nodes, and apply what each target lacks. A target's watermarks advance in the transaction of its last
 * chunk, and only if all its chunks applied with no locked row skipped; a failing target does not stop
 * the others. When the engine stops, the table's round ends after the chunk in flight is applied on
 * every target: those chunks stay committed, the watermarks stay where they were, and the next round
 * reads the same keys again (already applied, they decide as equal).
 */
final class TableRound {
    private final String sync;
    private final TableRef table;
    private final List<NodeSession> sessions;
    private final Map<String, TxId> boundaries;
    private final ConflictResolver resolver;
    private final List<List<String>> chosenKeys;
    private final IntFunction<NodeId> byOrdinal;
    private final Map<String, NodeRound> nodes;
    private final BooleanSupplier stopping;
    private long decided;
    private long chunks;
    /** Targets whose apply failed, and targets that skipped rows an application held locked, this round. */
    private final Set<String> failed = new HashSet<>();
    private final Set<String> skippedAny = new HashSet<>();
    private boolean stopped;
    private long conflicts;
    private long chunkChars;

    /**
     * @param chosenKeys keys with an operator's choice waiting to be applied ({@code manual}); they are
     *                   decided in this round whether or not they changed
     */
    TableRound(String sync, TableRef table, List<NodeSession> sessions, Map<String, TxId> boundaries, ConflictResolver resolver,
               List<List<String>> chosenKeys, IntFunction<NodeId> byOrdinal, Map<String, NodeRound> nodes, BooleanSupplier stopping) {
        this.sync = sync;
        this.table = table;
        this.sessions = sessions;
        this.boundaries = boundaries;
        this.resolver = resolver;
        this.chosenKeys = chosenKeys.stream().sorted(KeyOrder.INSTANCE).toList();
        this.byOrdinal = byOrdinal;
        this.nodes = nodes;
        this.stopping = stopping;
    }

    long decided() {
        return decided;
    }

    long conflicts() {
        return conflicts;
    }

    /**
     * True when some target did not take all of this table's changes this round: its apply failed, or
     * it skipped rows an application held locked. Its watermarks stay, so a later round reads them again.
     */
    boolean leftBehind() {
        return !failed.isEmpty() || !skippedAny.isEmpty();
    }

    /** Chunks applied before the engine's stop ended this table's round early, or -1 if it ran to the end. */
    long stoppedAfter() {
        return stopped ? chunks : -1;
    }

    void run(ConflictSink journal, List<String> errors) throws SQLException {
        TableShape shape = shape();
        Map<String, Window> windows = WindowPlanner.plan(boundaries, watermarks(shape));
        List<ChangeReader> readers = new ArrayList<>();
        try {
            for (NodeSession s : sessions) {
                s.reader.setAutoCommit(false);
                readers.add(new ChangeReader(s.reader, s.node.name(), shape, windows.get(s.node.name())));
            }
            List<java.util.Iterator<List<String>>> streams = new ArrayList<>(readers);
            streams.add(chosenKeys.iterator());
            mergeAndApply(shape, new KeyMerge(streams), journal, errors);
        } finally {
            readers.forEach(ChangeReader::close);
            sessions.forEach(NodeSession::endRead);
        }
    }

    private void mergeAndApply(TableShape shape, KeyMerge merge, ConflictSink journal, List<String> errors) {
        SideReader sideReader = new SideReader(shape, resolver.needsBase());
        ApplyWriter writer = new ApplyWriter(shape, resolver.needsBase());
        boolean last = !merge.hasNext();
        if (last) {
            return;
        }
        int size = ChunkPlanner.next(0, 0);
        do {
            List<List<String>> keys = merge.nextChunk(size);
            last = !merge.hasNext();
            Map<String, List<RowChange>> changes = decide(shape, sideReader, keys, journal);
            size = ChunkPlanner.next(keys.size(), chunkChars);
            for (NodeSession s : sessions) {
                String n = s.node.name();
                if (failed.contains(n)) {
                    continue;
                }
                try {
                    boolean mark = last && !skippedAny.contains(n);
                    ApplyResult r = writer.apply(s.writer, n, changes.getOrDefault(n, List.of()), mark ? marks(n) : Map.of());
                    if (r.busy() > 0) {
                        skippedAny.add(n);
                    }
                    if (mark && s != sessions.get(sessions.size() - 1)) {
                        CrashPoints.reach(CrashPoints.TARGET_COMMITTED);
                    }
                    nodes.computeIfPresent(n, (k, v) -> v.plus(r.applied(), r.skipped() + r.busy()));
                } catch (IbexException e) {
                    if (rejected(e)) {
                        throw stall(writer, s, changes.getOrDefault(n, List.of()), e);
                    }
                    failed.add(n);
                    errors.add(e.getMessage());
                    nodes.computeIfPresent(n, (k, v) -> v.failed(e.getMessage()));
                }
            }
            chunks++;
            if (!last && stopping.getAsBoolean()) {
                stopped = true;
                return;
            }
        } while (!last);
    }

    private Map<String, List<RowChange>> decide(TableShape shape, SideReader reader, List<List<String>> keys, ConflictSink journal) {
        Map<String, List<RowChange>> changes = new HashMap<>();
        if (keys.isEmpty()) {
            return changes;
        }
        List<List<Side>> perNode;
        try {
            perNode = PerNode.each(sessions, s -> reader.read(s.reader, s.node, byOrdinal, keys));
        } catch (SQLException e) {
            throw new IbexException("table " + table + ": reading rows: " + e.getMessage(), e); // SideReader wraps its own
        }
        chunkChars = 0;
        for (List<Side> sides : perNode) {
            chunkChars += ChunkPlanner.chars(sides);
        }
        List<Decision> conflicted = new ArrayList<>();
        for (int i = 0; i < keys.size(); i++) {
            List<Side> sides = new ArrayList<>(sessions.size());
            for (List<Side> n : perNode) {
                sides.add(n.get(i));
            }
            Decision d;
            try {
                d = Decider.decide(table.toString(), keys.get(i), sides, resolver);
            } catch (RuntimeException e) {
                throw new IbexException("table " + table + ", key " + keys.get(i) + ": strategy " + resolver.name() + " failed: " + e
                        + "; fix the resolver (rows of this table are not applied until then)", e);
            }
            decided++;
            if (d.conflicted()) {
                conflicted.add(d);
            }
            if (d.merged()) {
                requireSameShape(shape, keys.get(i), d);
            }
            List<Side> stale = d.stale(sides);
            for (Side s : sides) {
                // a node whose own change won keeps it, but a base it tracks must be confirmed
                if (stale.contains(s) || (s.pendingBase() != null && !d.held())) {
                    changes.computeIfAbsent(s.node().name(), k -> new ArrayList<>()).add(new RowChange(keys.get(i), d.image(),
                            s.version(), d.version(), d.winner().stampMicros(), d.winner().author().ordinal()));
                }
            }
        }
        CrashPoints.reach(CrashPoints.CHUNK_DECIDED);
        conflicts += conflicted.size();
        journal.record(sync, table, conflicted);
        CrashPoints.reach(CrashPoints.JOURNAL_WRITTEN);
        return changes;
    }

    /** A node refused rows for what they hold (a constraint or a value it does not accept), not for a passing reason. */
    private static boolean rejected(IbexException e) {
        String state = SqlErrors.state(e);
        return state != null && (state.startsWith("22") || state.startsWith("23"));
    }

    /**
     * Finds the row a node rejects by applying the chunk's rows one at a time (rows it accepts are
     * correct decisions and stay applied), and describes the stall with the key and the error.
     */
    private TableStall stall(ApplyWriter writer, NodeSession s, List<RowChange> changes, IbexException e) {
        for (RowChange c : changes) {
            try {
                writer.apply(s.writer, s.node.name(), List.of(c), Map.of());
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

    private String resume() {
        return "'ibex table resume " + sync + " " + table + "'";
    }

    /** A merged row from a custom resolver must have the table's columns and keep the key. */
    private void requireSameShape(TableShape shape, List<String> key, Decision d) {
        if (d.image() == null) {
            return;
        }
        boolean sameColumns = d.image().columns().equals(shape.columnNames());
        boolean sameKey = sameColumns && d.conflict().sides().stream().filter(Side::present).findFirst()
                .map(s -> shape.key().stream().allMatch(k -> java.util.Objects.equals(s.image().get(k), d.image().get(k))))
                .orElse(true);
        if (!sameColumns || !sameKey) {
            throw new IbexException("table " + table + ", key " + key + ": strategy " + d.strategy() + " returned a row "
                    + (sameColumns ? "with a different key" : "with columns " + d.image().columns() + " instead of " + shape.columnNames())
                    + "; fix the resolver (rows of this table are not applied until then)");
        }
    }

    private Map<String, TxId> marks(String target) {
        Map<String, TxId> m = new LinkedHashMap<>(boundaries);
        m.remove(target);
        return m;
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

    private Map<String, Map<String, TxId>> watermarks(TableShape shape) throws SQLException {
        Map<String, Map<String, TxId>> out = new HashMap<>();
        for (NodeSession s : sessions) {
            Map<String, TxId> m = new HashMap<>();
            try (PreparedStatement ps = s.reader.prepareStatement(
                    "select source_node, boundary::text from ibex.watermark where ledger_name = ?")) {
                ps.setString(1, shape.table().ledgerName());
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        m.put(rs.getString(1), TxId.parse(rs.getString(2)));
                    }
                }
            }
            out.put(s.node.name(), m);
        }
        return out;
    }
}
