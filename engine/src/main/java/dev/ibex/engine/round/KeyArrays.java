package dev.ibex.engine.round;

import dev.ibex.engine.capture.TableShape;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * A chunk of keys sent to a node as one text array per key column, unnested into rows {@code
 * k(k0, k1, ..., ord)} and matched against a table's key columns with each column's type.
 */
final class KeyArrays {
    private KeyArrays() {
    }

    /**
     * {@code unnest(?::text[], ...) with ordinality as k(k0, ..., extra..., ord)}: one parameter per
     * key column, then one text array per name in {@code extra}.
     */
    static String unnest(TableShape shape, String... extra) {
        String aliases = IntStream.range(0, shape.key().size()).mapToObj(i -> "k" + i).collect(Collectors.joining(", "));
        for (String e : extra) {
            aliases += ", " + e;
        }
        String arrays = IntStream.range(0, shape.key().size() + extra.length).mapToObj(k -> "?::text[]").collect(Collectors.joining(", "));
        return "unnest(" + arrays + ") with ordinality as k(" + aliases + ", ord)";
    }

    /** {@code alias.key0 = k.k0::type and ...}. */
    static String match(TableShape shape, String alias) {
        List<String> key = shape.key();
        List<String> parts = new ArrayList<>();
        for (int i = 0; i < key.size(); i++) {
            parts.add(alias + "." + dev.ibex.engine.db.Idents.name(key.get(i)) + " = k.k" + i + "::" + shape.typeOf(key.get(i)));
        }
        return String.join(" and ", parts);
    }

    /** Binds the key columns of {@code keys} from parameter {@code first} on; returns the next free parameter. */
    static int bind(Connection c, PreparedStatement ps, int first, TableShape shape, List<List<String>> keys) throws SQLException {
        for (int i = 0; i < shape.key().size(); i++) {
            final int col = i;
            ps.setArray(first + i, c.createArrayOf("text", keys.stream().map(k -> k.get(col)).toArray()));
        }
        return first + shape.key().size();
    }
}
