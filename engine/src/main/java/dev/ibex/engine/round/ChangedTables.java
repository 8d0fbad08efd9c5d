package dev.ibex.engine.round;

import dev.ibex.engine.capture.LogFolder;
import dev.ibex.engine.capture.ShapeCheck;
import dev.ibex.engine.capture.TableInspector;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.db.Idents;
import dev.ibex.engine.window.TxId;
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

/**
 * Which tables of a round have anything to do, and from which sources, found with one query per
 * node however many tables the sync has, besides what the node's fold returned (its watermarks and
 * each ledger's last fold that changed it): the tables' definitions ({@link TableInspector#inspectAll}, compared by
 * {@link ShapeCheck}, the same reader and rule as the table round's). No ledger is read: a source has changes to a
 * table for a target exactly when a fold advanced the table's ledger at or after the target's
 * watermark, so a round of a sync with a thousand idle tables stays cheap. A table whose definition
 * differs between nodes or whose capture is missing on some node counts as changed from every
 * source: its table round pauses it with the reason.
 */
final class ChangedTables {
    private ChangedTables() {
    }

    /**
     * What a round read of one table on every node: the nodes whose changes to it some other node
     * lacks (none: nothing to do), its definition on each node, and each node's watermarks for it
     * ({@code shapes} and {@code marks} are null when the round could not read them for all tables at
     * once: its table round reads them).
     */
    record TableState(Set<String> sources, Map<String, Optional<TableShape>> shapes, Map<String, Map<String, TxId>> marks) {
    }

    /**
     * The state of every table of {@code tables} on the round's nodes, from what each node's fold
     * returned (its watermarks and its ledgers' last changes) and the tables' definitions on each
     * node, as {@code read} has them by node (read while the nodes folded) or, when null, read now.
     */
    static Map<TableRef, TableState> read(List<TableSettings> tables, List<NodeSession> sessions, Map<String, LogFolder.Fold> folds,
                                          Map<String, Map<TableRef, Optional<TableShape>>> read) throws SQLException {
        List<TableRef> refs = tables.stream().map(TableSettings::table).toList();
        List<Map<TableRef, Optional<TableShape>>> shapesByNode = read != null && sessions.stream().allMatch(s -> read.containsKey(s.node.name()))
                ? sessions.stream().map(s -> read.get(s.node.name())).toList()
                : PerNode.each(sessions, s -> TableInspector.inspectAll(s.reader, refs));
        List<String> nodes = sessions.stream().map(s -> s.node.name()).toList();
        Map<TableRef, TableState> out = new LinkedHashMap<>();
        for (TableRef t : refs) {
            String ledger = t.ledgerName();
            Map<String, Optional<TableShape>> shapes = new LinkedHashMap<>();
            Map<String, Map<String, TxId>> marks = new HashMap<>();
            for (int i = 0; i < nodes.size(); i++) {
                shapes.put(nodes.get(i), shapesByNode.get(i).get(t));
                marks.put(nodes.get(i), folds.get(nodes.get(i)).watermarks().getOrDefault(ledger, Map.of()));
            }
            if (!ShapeCheck.problems(t, shapes).isEmpty()
                    || nodes.stream().anyMatch(n -> !folds.get(n).lastChanges().containsKey(ledger))) {
                out.put(t, new TableState(new HashSet<>(nodes), shapes, marks));
                continue;
            }
            Map<String, TxId> from = WindowPlanner.from(nodes, marks);
            Set<String> sources = new HashSet<>();
            for (int i = 0; i < nodes.size(); i++) {
                TxId last = folds.get(nodes.get(i)).lastChanges().get(ledger);
                if (last != null && !last.equals(TxId.ZERO) && last.compareTo(from.get(nodes.get(i))) >= 0) {
                    sources.add(nodes.get(i));
                }
            }
            out.put(t, new TableState(sources, shapes, marks));
        }
        return out;
    }

    /** The tables among {@code tables} whose ledger on {@code s} has any entry; every ledger must exist. */
    static Set<TableRef> withEntries(NodeSession s, List<TableRef> tables) throws SQLException {
        Set<TableRef> out = new HashSet<>();
        if (tables.isEmpty()) {
            return out;
        }
        StringBuilder sql = new StringBuilder();
        for (int i = 0; i < tables.size(); i++) {
            sql.append(i == 0 ? "" : " union all ").append("select ").append(i).append(" where exists (select 1 from ")
                    .append(Idents.name("ibex", tables.get(i).ledgerName())).append(")");
        }
        try (PreparedStatement ps = s.reader.prepareStatement(sql.toString()); ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                out.add(tables.get(rs.getInt(1)));
            }
        }
        return out;
    }

    /** Names of the ledgers that exist on the node. */
    static Set<String> ledgers(NodeSession s) throws SQLException {
        Set<String> out = new HashSet<>();
        try (PreparedStatement ps = s.reader.prepareStatement("select ledger_name from ibex.capture");
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                out.add(rs.getString(1));
            }
        }
        return out;
    }

    static List<TableRef> present(List<TableSettings> tables, Set<String> ledgers) {
        List<TableRef> out = new ArrayList<>();
        for (TableSettings t : tables) {
            if (!t.paused() && ledgers.contains(t.table().ledgerName())) {
                out.add(t.table());
            }
        }
        return out;
    }
}
