package dev.ibex.engine.config;

import dev.ibex.engine.UsageException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Objects;

/**
 * A replicated table: schema and name exactly as PostgreSQL stores them (case and spaces kept).
 * Its ledger name is derived from both, so it is the same on every node.
 */
public record TableRef(String schema, String name) implements Comparable<TableRef> {
    public TableRef {
        Objects.requireNonNull(schema, "schema");
        Objects.requireNonNull(name, "name");
    }

    /**
     * Parses {@code schema.table} or {@code table} (schema {@code public}). Double quotes keep dots
     * and case: {@code "My Schema"."Order.Lines"}. Unquoted names are taken as written (no folding),
     * since Ibex always quotes identifiers.
     */
    public static TableRef parse(String text) {
        if (text == null || text.isBlank()) {
            throw new UsageException("empty table name: give TABLE or SCHEMA.TABLE");
        }
        java.util.List<String> parts = new java.util.ArrayList<>();
        StringBuilder cur = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '"') {
                if (quoted && i + 1 < text.length() && text.charAt(i + 1) == '"') {
                    cur.append('"');
                    i++;
                } else {
                    quoted = !quoted;
                }
            } else if (c == '.' && !quoted) {
                parts.add(cur.toString());
                cur.setLength(0);
            } else {
                cur.append(c);
            }
        }
        parts.add(cur.toString());
        if (quoted || parts.size() > 2 || parts.stream().anyMatch(String::isEmpty)) {
            throw new UsageException("invalid table name '" + text + "': give TABLE or SCHEMA.TABLE, "
                    + "with double quotes around names that contain dots");
        }
        return parts.size() == 1 ? new TableRef("public", parts.get(0)) : new TableRef(parts.get(0), parts.get(1));
    }

    public String ledgerName() {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest((schema + "\u0000" + name).getBytes(StandardCharsets.UTF_8));
            return "ledger_" + HexFormat.of().formatHex(d, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public int compareTo(TableRef o) {
        int c = schema.compareTo(o.schema);
        return c != 0 ? c : name.compareTo(o.name);
    }

    @Override
    public String toString() {
        return quote(schema) + "." + quote(name);
    }

    private static String quote(String s) {
        return s.matches("[a-z_][a-z0-9_]*") ? s : '"' + s.replace("\"", "\"\"") + '"';
    }
}
