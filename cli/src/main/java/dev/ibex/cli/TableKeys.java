package dev.ibex.cli;

import dev.ibex.engine.capture.TableShape;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What {@code sync add} and {@code table add} print about the tables they added: the line, and the key each table uses. */
final class TableKeys {
    private TableKeys() {
    }

    static void print(PrintWriter out, boolean json, String sync, List<TableShape> shapes, String line) {
        if (json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("sync", sync);
            doc.put("tables", shapes.stream().map(TableKeys::document).toList());
            Output.json(out, doc);
            return;
        }
        out.println(line);
        shapes.forEach(s -> s.keyNote().ifPresent(out::println));
        shapes.stream().filter(s -> s.partitioning().partitioned()).forEach(s -> out.println("table " + s.table()
                + " is partitioned: every partition, present and attached later, is captured row by row"));
    }

    private static Map<String, Object> document(TableShape s) {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("table", s.table().toString());
        doc.put("key", s.key());
        doc.put("key_source", s.primaryKey() ? "primary key" : "unique index");
        doc.put("key_index", s.keyIndex());
        doc.put("partitioned", s.partitioning().partitioned());
        s.keyNote().ifPresent(n -> doc.put("note", n));
        return doc;
    }
}
