package dev.ibex.engine.round;

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
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Which tables of a round have anything to do, found with four queries per node however many
 * tables the sync has (its watermarks, its ledgers, the tables' definitions, then one probe of
 * every ledger through its txid index), so that a round of a sync with a thousand idle tables
 * stays cheap. A table whose definition differs between nodes or whose ledger is missing on some
 * node counts as changed: its table round pauses it with the reason.
 */
final class ChangedTables {
    /** Per node of the round, the ledgers that exist there, read once at the start of the round. */
    private final Map<String, Set<String>> ledgers;

    private ChangedTables(Map<String, Set<String>> ledgers) {
        this.ledgers = ledgers;
    }

    /** Reads which ledgers exist on each node of the round. */
    static ChangedTables read(List<NodeSession> sessions) throws SQLException {
        Map<String, Set<String>> ledgers = new HashMap<>();
        for (NodeSession s : sessions) {
            ledgers.put(s.node.name(), ledgers(s));
        }
        return new ChangedTables(ledgers);
    }

    /** Names of the ledgers that exist on the node, as read at the start of the round. */
    Set<String> ledgers(String node) {
        return ledgers.getOrDefault(node, Set.of());
    }

    /** The tables with a change that some target of this round has not reconciled yet. */
    Set<TableRef> sinceWatermarks(List<TableSettings> tables, List<NodeSession> sessions, Map<String, TxId> boundaries)
            throws SQLException {
        Map<String, Map<String, Map<String, TxId>>> marks = new ConcurrentHashMap<>();
        Map<String, Map<TableRef, String>> shapes = new HashMap<>();
        List<TableRef> refs = tables.stream().map(TableSettings::table).toList();
        List<Map<TableRef, String>> perNode = PerNode.each(sessions, s -> {
            marks.put(s.node.name(), watermarks(s));
            return shapes(s, refs);
        });
        for (int i = 0; i < sessions.size(); i++) {
            shapes.put(sessions.get(i).node.name(), perNode.get(i));
        }
        Set<TableRef> out = new HashSet<>();
        List<TableRef> present = new ArrayList<>();
        for (TableRef t : refs) {
            String ledger = t.ledgerName();
            boolean sameShape = shapes.get(sessions.get(0).node.name()).get(t) != null
                    && sessions.stream().map(s -> shapes.get(s.node.name()).get(t)).distinct().count() == 1;
            if (sameShape && sessions.stream().allMatch(s -> ledgers(s.node.name()).contains(ledger))) {
                present.add(t);
            } else {
                out.add(t);
            }
        }
        Map<String, Map<TableRef, TxId>> from = new HashMap<>();
        for (TableRef t : present) {
            Map<String, Map<String, TxId>> perTarget = new HashMap<>();
            marks.forEach((target, byLedger) -> perTarget.put(target, byLedger.getOrDefault(t.ledgerName(), Map.of())));
            WindowPlanner.plan(boundaries, perTarget).forEach((source, window) ->
                    from.computeIfAbsent(source, k -> new LinkedHashMap<>()).put(t, window.from()));
        }
        PerNode.each(sessions, source -> withChanges(source, from.getOrDefault(source.node.name(), Map.of()))).forEach(out::addAll);
        return out;
    }

    /** True when some node already has a change to one of {@code tables} at or after its boundary of this round. */
    boolean sinceBoundaries(List<TableSettings> tables, List<NodeSession> sessions, Map<String, TxId> boundaries)
            throws SQLException {
        return PerNode.each(sessions, s -> {
            Map<TableRef, TxId> from = new LinkedHashMap<>();
            for (TableSettings t : tables) {
                if (ledgers(s.node.name()).contains(t.table().ledgerName())) {
                    from.put(t.table(), boundaries.get(s.node.name()));
                }
            }
            return !withChanges(s, from).isEmpty();
        }).contains(true);
    }

    /** The tables among {@code from}'s keys whose ledger on {@code s} has a change at or after the given txid. */
    static Set<TableRef> withChanges(NodeSession s, Map<TableRef, TxId> from) throws SQLException {
        return probe(s, new ArrayList<>(from.keySet()), " where ibex_txid >= ?::xid8", t -> from.get(t).toString());
    }

    /** The tables among {@code tables} whose ledger on {@code s} has any entry; every ledger must exist. */
    static Set<TableRef> withEntries(NodeSession s, List<TableRef> tables) throws SQLException {
        return probe(s, tables, "", null);
    }

    private static Set<TableRef> probe(NodeSession s, List<TableRef> order, String where,
                                       java.util.function.Function<TableRef, String> parameter) throws SQLException {
        Set<TableRef> out = new HashSet<>();
        if (order.isEmpty()) {
            return out;
        }
        StringBuilder sql = new StringBuilder();
        for (int i = 0; i < order.size(); i++) {
            sql.append(i == 0 ? "" : " union all ").append("select ").append(i).append(" where exists (select 1 from ")
                    .append(Idents.name("ibex", order.get(i).ledgerName())).append(where).append(")");
        }
        try (PreparedStatement ps = s.reader.prepareStatement(sql.toString())) {
            for (int i = 0; parameter != null && i < order.size(); i++) {
                ps.setString(i + 1, parameter.apply(order.get(i)));
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(order.get(rs.getInt(1)));
                }
            }
        }
        return out;
    }

    /**
     * Each table's definition on the node in one line (columns, types, not-null flags, primary
     * key), or none when it does not exist there: tables whose lines differ between nodes go to
     * their table round, which pauses them with the difference.
     */
    private static Map<TableRef, String> shapes(NodeSession s, List<TableRef> tables) throws SQLException {
        Map<TableRef, String> out = new HashMap<>();
        String sql = "select t.ord, (select string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull, "
                + "', ' order by a.attnum) from pg_catalog.pg_attribute a "
                + "where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = '') "
                + "|| ' key ' || coalesce((select string_agg(a.attname, ', ' order by k.ord) from pg_catalog.pg_index i "
                + "cross join lateral unnest(i.indkey) with ordinality as k(attnum, ord) "
                + "join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum "
                + "where i.indrelid = c.oid and i.indisprimary), '') "
                + "from unnest(?::text[], ?::text[]) with ordinality as t(schema, name, ord) "
                + "left join pg_catalog.pg_namespace n on n.nspname = t.schema "
                + "left join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = t.name and c.relkind in ('r', 'p')";
        try (PreparedStatement ps = s.reader.prepareStatement(sql)) {
            ps.setArray(1, s.reader.createArrayOf("text", tables.stream().map(TableRef::schema).toArray()));
            ps.setArray(2, s.reader.createArrayOf("text", tables.stream().map(TableRef::name).toArray()));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    String shape = rs.getString(2);
                    if (shape != null) {
                        out.put(tables.get(rs.getInt(1) - 1), shape);
                    }
                }
            }
        }
        return out;
    }

    /** Per ledger, per source, the boundary reconciled into this node. */
    private static Map<String, Map<String, TxId>> watermarks(NodeSession s) throws SQLException {
        Map<String, Map<String, TxId>> out = new HashMap<>();
        try (PreparedStatement ps = s.reader.prepareStatement("select ledger_name, source_node, boundary::text from ibex.watermark");
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                out.computeIfAbsent(rs.getString(1), k -> new HashMap<>()).put(rs.getString(2), TxId.parse(rs.getString(3)));
            }
        }
        return out;
    }

    private static Set<String> ledgers(NodeSession s) throws SQLException {
        Set<String> out = new HashSet<>();
        try (PreparedStatement ps = s.reader.prepareStatement(
                "select relname::text from pg_class where relnamespace = 'ibex'::regnamespace and relkind in ('r', 'p')");
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                out.add(rs.getString(1));
            }
        }
        return out;
    }
}
