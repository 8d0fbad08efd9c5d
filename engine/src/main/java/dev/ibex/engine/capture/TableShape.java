package dev.ibex.engine.capture;

import dev.ibex.engine.config.TableRef;
import java.util.List;
import java.util.Optional;

/**
 * A table's columns (in order, generated columns left out since they are computed on every
 * node), its key columns (in key order) and the index they come from, and how the table is
 * partitioned, as read from one node's catalog. The key is the primary key, else the unique index
 * that {@link TableInspector} chooses; empty when the table has neither.
 *
 * @param keyIndex the name of the key's index (null when there is no key)
 * @param primaryKey whether the key is the primary key
 */
public record TableShape(TableRef table, List<ColumnShape> columns, List<String> key, String keyIndex, boolean primaryKey,
                         Partitioning partitioning) {
    /** How a table takes part in partitioning. */
    public record Partitioning(boolean partitioned, boolean subPartitioned, TableRef root) {
        public static final Partitioning NONE = new Partitioning(false, false, null);

        /** The partitioned table this one is a partition of. */
        public Optional<TableRef> partitionOf() {
            return Optional.ofNullable(root);
        }
    }

    public TableShape {
        columns = List.copyOf(columns);
        key = List.copyOf(key);
    }

    /** An ordinary table keyed by its primary key {@code key}. */
    public TableShape(TableRef table, List<ColumnShape> columns, List<String> key) {
        this(table, columns, key, key.isEmpty() ? null : table.name() + "_pkey", !key.isEmpty(), Partitioning.NONE);
    }

    public List<String> columnNames() {
        return columns.stream().map(ColumnShape::name).toList();
    }

    public List<String> nonKeyColumns() {
        return columnNames().stream().filter(c -> !key.contains(c)).toList();
    }

    public String typeOf(String column) {
        return columns.stream().filter(c -> c.name().equals(column)).findFirst().orElseThrow().type();
    }

    /** Where the key comes from, e.g. {@code primary key (id)} or {@code unique index t_code_key (code)}. */
    public String keySource() {
        return (primaryKey ? "primary key" : "unique index " + keyIndex) + " (" + String.join(", ", key) + ")";
    }

    /** For a table keyed by a unique index: the sentence that says which index Ibex uses as its key. */
    public Optional<String> keyNote() {
        return primaryKey || key.isEmpty() ? Optional.empty()
                : Optional.of("table " + table + " has no primary key: using " + keySource() + " as its key");
    }
}
