package dev.ibex.engine.status;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.capture.TableShape;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Parses the KEY of {@code ibex trace} against a table's key columns into one text value per key
 * column, in key order: the value itself for a one-column key, {@code a,b} for a composite key, or
 * a JSON object naming every key column. Types are checked where the values meet the table.
 */
public final class TraceKey {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TraceKey() {
    }

    public static List<String> parse(String text, TableShape shape) {
        List<String> key = shape.key();
        if (text.stripLeading().startsWith("{")) {
            return fromJson(text, shape);
        }
        if (key.size() == 1) {
            return List.of(text);
        }
        List<String> parts = List.of(text.split(",", -1));
        if (parts.size() != key.size()) {
            throw new UsageException("key '" + text + "' has " + parts.size() + " value(s) for the " + key.size() + " key columns of "
                    + shape.table() + " (" + describe(shape) + "): give them as 'v1,v2' or as a JSON object " + example(shape));
        }
        return parts;
    }

    private static List<String> fromJson(String text, TableShape shape) {
        JsonNode o;
        try {
            o = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new UsageException("key is not valid JSON: " + e.getOriginalMessage() + "; give a JSON object " + example(shape));
        }
        if (o == null || !o.isObject()) {
            throw new UsageException("key must be a JSON object " + example(shape));
        }
        List<String> unknown = new ArrayList<>();
        for (Iterator<String> it = o.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!shape.key().contains(f)) {
                unknown.add(f);
            }
        }
        List<String> missing = shape.key().stream().filter(c -> !o.has(c)).toList();
        if (!unknown.isEmpty() || !missing.isEmpty()) {
            throw new UsageException("key must name exactly the key columns of " + shape.table() + " (" + describe(shape) + ")"
                    + (unknown.isEmpty() ? "" : "; not key columns: " + unknown) + (missing.isEmpty() ? "" : "; missing: " + missing));
        }
        List<String> values = new ArrayList<>();
        for (String c : shape.key()) {
            JsonNode v = o.get(c);
            if (v.isNull() || !v.isValueNode()) {
                throw new UsageException("key column " + c + " needs a value (a string or a number), got " + v);
            }
            values.add(v.asText());
        }
        return values;
    }

    /** {@code ord integer, sku text}. */
    static String describe(TableShape shape) {
        return shape.key().stream().map(c -> c + " " + shape.typeOf(c)).collect(Collectors.joining(", "));
    }

    private static String example(TableShape shape) {
        return shape.key().stream().map(c -> JSON.valueToTree(c).toString() + ": ...").collect(Collectors.joining(", ", "{", "}"));
    }
}
