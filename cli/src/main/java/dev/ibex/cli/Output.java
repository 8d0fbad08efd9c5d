package dev.ibex.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import com.github.freva.asciitable.AsciiTable;
import com.github.freva.asciitable.Column;
import com.github.freva.asciitable.HorizontalAlign;
import java.io.PrintWriter;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/** Prints results: aligned tables for people, stable JSON documents for scripts. */
public final class Output {
    private static final ObjectMapper JSON = new ObjectMapper().registerModule(new JavaTimeModule())
            .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS).enable(SerializationFeature.INDENT_OUTPUT);

    private Output() {
    }

    static void json(PrintWriter out, Object value) {
        try {
            out.println(JSON.writeValueAsString(value));
            out.flush();
        } catch (Exception e) {
            throw new IllegalStateException("cannot print JSON: " + e.getMessage(), e);
        }
    }

    /** A value as the JSON object {@link #json} would print, to add fields to. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> document(Object value) {
        return JSON.convertValue(value, Map.class);
    }

    public static void table(PrintWriter out, List<String> headers, List<List<String>> rows) {
        Column[] cols = headers.stream().map(h -> new Column().header(h).dataAlign(HorizontalAlign.LEFT)).toArray(Column[]::new);
        String[][] data = rows.stream().map(r -> r.stream().map(v -> v == null ? "" : v).toArray(String[]::new)).toArray(String[][]::new);
        out.println(AsciiTable.getTable(AsciiTable.NO_BORDERS, cols, data));
        out.flush();
    }

    public static List<String> row(Object... values) {
        return Arrays.stream(values).map(v -> v == null ? "" : v.toString()).toList();
    }
}
