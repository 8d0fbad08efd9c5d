package dev.ibex.engine.round;

import dev.ibex.conflict.ConflictResolver;
import dev.ibex.conflict.Decider;
import dev.ibex.conflict.Decision;
import dev.ibex.conflict.NodeId;
import dev.ibex.conflict.Side;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.apply.ApplyResult;
import dev.ibex.engine.apply.ApplyWriter;
import dev.ibex.engine.apply.RowChange;
import dev.ibex.engine.capture.ShapeCheck;
import dev.ibex.engine.capture.TableInspector;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.window.TxId;
import dev.ibex.engine.window.Window;
import dev.ibex.engine.window.WindowPlanner;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.IntFunction;

/**
 * One table's part of a round: plan the windows, stream and merge the changed keys of every
 * source in chunks, read every node's side of each chunk, decide each key once for all nodes,
 * and apply what each target lacks. A target's watermarks advance in the transaction of its last
 * chunk, and only if all its chunks applied with no locked row skipped; a failing target does not stop
 * the others.
 */
final class TableRound {
    static final int CHUNK = 1000;

    /** Decisions of this table that were conflicts, handed to the journal chunk by chunk. */
    interface ConflictSink {
        void record(String sync, TableRef table, List<Decision> conflicts);
    }

    private final String sync;
    private final TableRef table;
    private final List<NodeSession> sessions;
    private final Map<String, TxId> boundaries;
    private final ConflictResolver resolver;
    private final IntFunction<NodeId> byOrdinal;
    private final Map<String, NodeRound> nodes;
    private long decided;
    private long conflicts;

    TableRound(String sync, TableRef table, List<NodeSession> sessions, Map<String, TxId> boundaries, ConflictResolver resolver,
               IntFunction<NodeId> byOrdinal, Map<String, NodeRound> nodes) {
        this.sync = sync;
        this.table = table;
        this.sessions = sessions;
        this.boundaries = boundaries;
        this.resolver = resolver;
        this.byOrdinal = byOrdinal;
        this.nodes = nodes;
    }

    long decided() {
        return decided;
    }

    long conflicts() {
        return conflicts;
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
            mergeAndApply(shape, new KeyMerge(readers), journal, errors);
        } finally {
            readers.forEach(ChangeReader::close);
            sessions.forEach(NodeSession::endRead);
        }
    }

    private void mergeAndApply(TableShape shape, KeyMerge merge, ConflictSink journal, List<String> errors) {
        SideReader sideReader = new SideReader(shape);
        ApplyWriter writer = new ApplyWriter(shape);
        Map<String, Boolean> failed = new HashMap<>();
        Map<String, Boolean> skippedAny = new HashMap<>();
        boolean last = !merge.hasNext();
        if (last) {
            return;
        }
        do {
            List<List<String>> keys = merge.nextChunk(CHUNK);
            last = !merge.hasNext();
            Map<String, List<RowChange>> changes = decide(shape, sideReader, keys, journal);
            for (NodeSession s : sessions) {
                String n = s.node.name();
                if (failed.containsKey(n)) {
                    continue;
                }
                try {
                    boolean mark = last && !skippedAny.containsKey(n);
                    ApplyResult r = writer.apply(s.writer, n, changes.getOrDefault(n, List.of()), mark ? marks(n) : Map.of());
                    if (r.busy() > 0) {
                        skippedAny.put(n, true);
                    }
                    nodes.computeIfPresent(n, (k, v) -> v.plus(r.applied(), r.skipped() + r.busy()));
                } catch (IbexException e) {
                    failed.put(n, true);
                    errors.add(e.getMessage());
                    nodes.computeIfPresent(n, (k, v) -> v.failed(e.getMessage()));
                }
            }
        } while (!last);
    }

    private Map<String, List<RowChange>> decide(TableShape shape, SideReader reader, List<List<String>> keys, ConflictSink journal) {
        Map<String, List<RowChange>> changes = new HashMap<>();
        if (keys.isEmpty()) {
            return changes;
        }
        List<List<Side>> perNode = new ArrayList<>();
        for (NodeSession s : sessions) {
            perNode.add(reader.read(s.reader, s.node, byOrdinal, keys));
        }
        List<Decision> conflicted = new ArrayList<>();
        for (int i = 0; i < keys.size(); i++) {
            List<Side> sides = new ArrayList<>(sessions.size());
            for (List<Side> n : perNode) {
                sides.add(n.get(i));
            }
            Decision d = Decider.decide(table.toString(), keys.get(i), sides, resolver);
            decided++;
            if (d.conflicted()) {
                conflicted.add(d);
            }
            for (Side stale : d.stale(sides)) {
                changes.computeIfAbsent(stale.node().name(), k -> new ArrayList<>()).add(new RowChange(keys.get(i), d.image(),
                        stale.version(), d.version(), d.winner().stampMicros(), d.winner().author().ordinal()));
            }
        }
        conflicts += conflicted.size();
        journal.record(sync, table, conflicted);
        return changes;
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
            throw new IbexException(String.join("; ", problems));
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
