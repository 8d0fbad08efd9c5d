package dev.ibex.conflict;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A row as PostgreSQL's text output of each column, in table column order; a column value may be
 * null. The text form round-trips every PostgreSQL type exactly, so images move between nodes
 * without loss.
 */
public record RowImage(List<String> columns, List<String> values) {
    public RowImage {
        columns = List.copyOf(columns);
        values = Collections.unmodifiableList(new ArrayList<>(values));
        if (columns.size() != values.size()) {
            throw new IllegalArgumentException(columns.size() + " columns but " + values.size() + " values");
        }
    }

    public boolean has(String column) {
        return columns.contains(column);
    }

    public String get(String column) {
        int i = columns.indexOf(column);
        if (i < 0) {
            throw new IllegalArgumentException("no column " + column + " in " + columns);
        }
        return values.get(i);
    }

    public RowImage with(String column, String value) {
        int i = columns.indexOf(column);
        if (i < 0) {
            throw new IllegalArgumentException("no column " + column + " in " + columns);
        }
        List<String> v = new ArrayList<>(values);
        v.set(i, value);
        return new RowImage(columns, v);
    }

    public Map<String, String> asMap() {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < columns.size(); i++) {
            m.put(columns.get(i), values.get(i));
        }
        return m;
    }

    public boolean sameValues(RowImage other) {
        return other != null && Objects.equals(values, other.values);
    }
}
