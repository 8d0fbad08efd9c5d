package dev.ibex.engine.capture;

import dev.ibex.engine.config.TableRef;
import java.util.List;

/**
 * A table's columns (in order, generated columns left out since they are computed on every
 * node) and its primary-key columns (in key order), as read from one node's catalog.
 */
public record TableShape(TableRef table, List<ColumnShape> columns, List<String> key) {
    public TableShape {
        columns = List.copyOf(columns);
        key = List.copyOf(key);
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
}
