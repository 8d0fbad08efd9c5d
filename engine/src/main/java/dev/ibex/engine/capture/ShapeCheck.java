package dev.ibex.engine.capture;

import dev.ibex.engine.config.TableRef;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Compares one table's shape across nodes: it must exist everywhere, not be a partition nor
 * partitioned on several levels, have a key (a primary key or a unique index over NOT NULL
 * columns), and the same columns (names, order, types) and key columns on every node. Pure; returns one line per problem,
 * each naming the node, table and column.
 */
public final class ShapeCheck {
    private ShapeCheck() {
    }

    /** @param shapes per node name, in node order; empty where the table does not exist */
    public static List<String> problems(TableRef table, Map<String, Optional<TableShape>> shapes) {
        List<String> out = new ArrayList<>();
        List<String> keyless = new ArrayList<>();
        TableShape reference = null;
        String referenceNode = null;
        for (Map.Entry<String, Optional<TableShape>> e : shapes.entrySet()) {
            String node = e.getKey();
            if (e.getValue().isEmpty()) {
                out.add("table " + table + " does not exist on node " + node);
                continue;
            }
            TableShape s = e.getValue().get();
            Optional<String> kind = kindProblem(table, node, s);
            if (kind.isPresent()) {
                out.add(kind.get());
                continue;
            }
            if (s.key().isEmpty()) {
                keyless.add(node);
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
        if (!keyless.isEmpty()) {
            boolean everywhere = keyless.size() == shapes.values().stream().filter(Optional::isPresent).count();
            out.add(0, "table " + table + " has no primary key and no unique index over NOT NULL columns"
                    + (everywhere ? "" : " on node" + (keyless.size() > 1 ? "s " : " ") + String.join(", ", keyless))
                    + ": add one, e.g. ALTER TABLE " + table + " ADD PRIMARY KEY (column, ...)");
        }
        return out;
    }

    /** A partition, or a table partitioned on more than one level: refused, saying what to replicate instead. */
    private static Optional<String> kindProblem(TableRef table, String node, TableShape s) {
        TableShape.Partitioning p = s.partitioning();
        if (p.partitionOf().isPresent()) {
            return Optional.of("table " + table + " is a partition of " + p.root() + " on node " + node
                    + ": add the partitioned table " + p.root() + " instead");
        }
        if (p.subPartitioned()) {
            return Optional.of("table " + table + " is sub-partitioned on node " + node + " (one of its partitions is itself "
                    + "partitioned): Ibex replicates partitioned tables of one level; replicate a table partitioned once");
        }
        return Optional.empty();
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
            out.add("table " + table + ": the key is " + ref.keySource() + " on node " + refNode + " but " + s.keySource()
                    + " on node " + node + "; give the table the same primary key or unique index on every node");
        }
    }
}
