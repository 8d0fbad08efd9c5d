package dev.ibex.engine.capture;

import dev.ibex.engine.config.TableRef;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Compares one table's shape across nodes: it must exist everywhere, have a primary key, and the
 * same columns (names, order, types) and key on every node. Pure; returns one line per problem,
 * each naming the node, table and column.
 */
public final class ShapeCheck {
    private ShapeCheck() {
    }

    /** @param shapes per node name, in node order; empty where the table does not exist */
    public static List<String> problems(TableRef table, Map<String, Optional<TableShape>> shapes) {
        List<String> out = new ArrayList<>();
        TableShape reference = null;
        String referenceNode = null;
        for (Map.Entry<String, Optional<TableShape>> e : shapes.entrySet()) {
            String node = e.getKey();
            if (e.getValue().isEmpty()) {
                out.add("table " + table + " does not exist on node " + node);
                continue;
            }
            TableShape s = e.getValue().get();
            if (s.key().isEmpty()) {
                out.add("table " + table + " on node " + node + " has no primary key; Ibex needs one to identify rows");
                continue;
            }
            if (s.key().stream().anyMatch(k -> k.startsWith("ibex_"))) {
                out.add("table " + table + " on node " + node + ": key column names starting with ibex_ are reserved for Ibex's ledger; "
                        + "rename the column");
                continue;
            }
            if (reference == null) {
                reference = s;
                referenceNode = node;
            } else {
                compare(table, referenceNode, reference, node, s, out);
            }
        }
        return out;
    }

    private static void compare(TableRef table, String refNode, TableShape ref, String node, TableShape s, List<String> out) {
        for (ColumnShape c : ref.columns()) {
            Optional<ColumnShape> o = s.columns().stream().filter(x -> x.name().equals(c.name())).findFirst();
            if (o.isEmpty()) {
                out.add("table " + table + ": column \"" + c.name() + "\" exists on node " + refNode + " but not on node " + node);
            } else if (!o.get().type().equals(c.type())) {
                out.add("table " + table + ": column \"" + c.name() + "\" is " + c.type() + " on node " + refNode
                        + " but " + o.get().type() + " on node " + node);
            }
        }
        for (ColumnShape c : s.columns()) {
            if (ref.columns().stream().noneMatch(x -> x.name().equals(c.name()))) {
                out.add("table " + table + ": column \"" + c.name() + "\" exists on node " + node + " but not on node " + refNode);
            }
        }
        if (out.isEmpty() && !ref.columnNames().equals(s.columnNames())) {
            out.add("table " + table + ": columns are in a different order on node " + node + " than on node " + refNode);
        }
        if (!ref.key().equals(s.key())) {
            out.add("table " + table + ": primary key is " + ref.key() + " on node " + refNode + " but " + s.key() + " on node " + node);
        }
    }
}
