package dev.ibex.engine.capture;

import dev.ibex.engine.capture.ShapeSql;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.db.Idents;
import dev.ibex.engine.db.SqlTemplate.Fragment;
import dev.ibex.engine.db.SqlTemplate;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * The SQL fragments of one replicated table that {@link SqlTemplate}s are filled with: the table,
 * its ledger and its two change-log tables, its key and columns, with or without a table alias.
 * Keys sent from the engine travel as one text array per key column ({@code {key_arrays}}, unnested
 * as {@code k(k0, k1, ..., ord)}) and are cast back to each column's type where they meet a table.
 *
 * <ul>
 *   <li>{@code {table}}, {@code {ledger}}, {@code {log0}}, {@code {log1}}: quoted relation names;</li>
 *   <li>{@code {keys}}, {@code {keys:a}}: the key columns, bare or qualified with alias {@code a};</li>
 *   <li>{@code {cols}}, {@code {cols:a}}: every column; {@code {cols_text:a}}: each as text; {@code {set:a}}:
 *       {@code "c" = a."c", ...};</li>
 *   <li>{@code {match:a,b}}: {@code a."k" = b."k" and ...}; {@code {first_key:a}}: the first key column;</li>
 *   <li>{@code {key_text:a}}: each key column's text in the canonical form that keys are compared in;</li>
 *   <li>{@code {key_arrays}}: {@code unnest(?::text[], ...) with ordinality as k(k0, ..., ord)};
 *       {@code {key_match:a}}: {@code a."k" = k.k0::type and ...}.</li>
 * </ul>
 */
public final class ShapeSql {
    private final TableShape shape;
    private final Map<String, Fragment> fragments = new HashMap<>();

    public ShapeSql(TableShape shape) {
        this.shape = shape;
        List<String> key = shape.key();
        String ledger = shape.table().ledgerName();
        fragments.put("table", Fragment.of(Idents.name(shape.table().schema(), shape.table().name())));
        fragments.put("ledger", Fragment.of(Idents.name("ibex", ledger)));
        fragments.put("log0", Fragment.of(Idents.name("ibex", ledger + "_log0")));
        fragments.put("log1", Fragment.of(Idents.name("ibex", ledger + "_log1")));
        fragments.put("keys", args -> Idents.list(alias(args), key));
        fragments.put("cols", args -> Idents.list(alias(args), shape.columnNames()));
        fragments.put("cols_text", args -> shape.columnNames().stream().map(c -> args.get(0) + "." + Idents.name(c) + "::text")
                .collect(Collectors.joining(", ")));
        fragments.put("set", args -> shape.columnNames().stream().map(c -> Idents.name(c) + " = " + args.get(0) + "." + Idents.name(c))
                .collect(Collectors.joining(", ")));
        fragments.put("match", args -> Idents.equal(args.get(0), args.get(1), key));
        fragments.put("first_key", args -> args.get(0) + "." + Idents.name(key.get(0)));
        fragments.put("key_text", args -> key.stream().map(k -> keyText(shape, args.get(0) + "." + Idents.name(k), k))
                .collect(Collectors.joining(", ")));
        fragments.put("key_arrays", args -> "unnest(" + IntStream.range(0, key.size()).mapToObj(i -> "?::text[]")
                .collect(Collectors.joining(", ")) + ") with ordinality as k(" + IntStream.range(0, key.size())
                .mapToObj(i -> "k" + i).collect(Collectors.joining(", ")) + ", ord)");
        fragments.put("key_match", args -> IntStream.range(0, key.size()).mapToObj(i -> args.get(0) + "." + Idents.name(key.get(i))
                + " = k.k" + i + "::" + shape.typeOf(key.get(i))).collect(Collectors.joining(" and ")));
    }

    public TableShape shape() {
        return shape;
    }

    public String render(String template) {
        return SqlTemplate.render(template, fragments);
    }

    /** Renders with more fragments, given as literal SQL text (they must be safe SQL: numbers, quoted literals). */
    public String render(String template, Map<String, String> more) {
        Map<String, Fragment> all = new HashMap<>(fragments);
        more.forEach((k, v) -> all.put(k, Fragment.of(v)));
        return SqlTemplate.render(template, all);
    }

    /**
     * The name of a session's temporary table for {@code purpose} (lower-case letters) and this shape's {@code columns}
     * (their names and types): a new shape (a column added, a type changed) gets a new table.
     */
    public String tempName(String purpose, List<String> columns) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update((purpose + "\u0000" + shape.table().ledgerName()).getBytes(StandardCharsets.UTF_8));
            columns.forEach(c -> d.update((c + "\u0000" + shape.typeOf(c) + "\u0000").getBytes(StandardCharsets.UTF_8)));
            return "ibex_" + purpose + "_" + HexFormat.of().formatHex(d.digest(), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A key column's text in one form per value, so that equal keys are equal strings on every
     * node: numeric keys lose their trailing zeros (2.50 and 2.5 are one key).
     */
    public static String keyText(TableShape shape, String expression, String column) {
        return shape.typeOf(column).startsWith("numeric") ? "trim_scale(" + expression + ")::text" : expression + "::text";
    }

    /** {@link #keyText} of a bare key column. */
    public static String keyText(TableShape shape, String column) {
        return keyText(shape, Idents.name(column), column);
    }

    private static String alias(List<String> args) {
        return args.isEmpty() ? null : args.get(0);
    }
}
