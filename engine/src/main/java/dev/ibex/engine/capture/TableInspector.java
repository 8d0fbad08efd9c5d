package dev.ibex.engine.capture;

import dev.ibex.engine.IbexException;
import dev.ibex.engine.config.TableRef;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Reads a table's shape from a node's catalog; names are matched exactly, never folded. */
public final class TableInspector {
    /** Every column and key column of many tables at once: table ordinal, kind (c or k), name, type, not null, position. */
    private static final String ALL = """
            select t.ord, 'c', a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attnum
              from unnest(?::text[], ?::text[]) with ordinality as t(schema, name, ord)
              join pg_catalog.pg_namespace n on n.nspname = t.schema
              join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = t.name and c.relkind in ('r', 'p')
              join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
            union all
            select t.ord, 'k', a.attname, null, null, k.ord
              from unnest(?::text[], ?::text[]) with ordinality as t(schema, name, ord)
              join pg_catalog.pg_namespace n on n.nspname = t.schema
              join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = t.name and c.relkind in ('r', 'p')
              join pg_catalog.pg_index i on i.indrelid = c.oid and i.indisprimary
              cross join lateral unnest(i.indkey) with ordinality as k(attnum, ord)
              join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
             order by 1, 2, 6""";

    private TableInspector() {
    }

    /** The shapes of {@code tables} on this node in one query, each empty where the table does not exist. */
    public static java.util.Map<TableRef, Optional<TableShape>> inspectAll(Connection c, List<TableRef> tables) {
        return read(c, tables, "the definitions of " + tables.size() + " tables");
    }

    private static java.util.Map<TableRef, Optional<TableShape>> read(Connection c, List<TableRef> tables, String what) {
        List<List<ColumnShape>> columns = new ArrayList<>();
        List<List<String>> keys = new ArrayList<>();
        for (int i = 0; i < tables.size(); i++) {
            columns.add(new ArrayList<>());
            keys.add(new ArrayList<>());
        }
        try (PreparedStatement ps = c.prepareStatement(ALL)) {
            Object[] schemas = tables.stream().map(TableRef::schema).toArray();
            Object[] names = tables.stream().map(TableRef::name).toArray();
            ps.setArray(1, c.createArrayOf("text", schemas));
            ps.setArray(2, c.createArrayOf("text", names));
            ps.setArray(3, c.createArrayOf("text", schemas));
            ps.setArray(4, c.createArrayOf("text", names));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    int t = rs.getInt(1) - 1;
                    if ("c".equals(rs.getString(2))) {
                        columns.get(t).add(new ColumnShape(rs.getString(3), rs.getString(4), rs.getBoolean(5)));
                    } else {
                        keys.get(t).add(rs.getString(3));
                    }
                }
            }
        } catch (SQLException e) {
            throw new IbexException("reading " + what + ": " + e.getMessage(), e);
        }
        java.util.Map<TableRef, Optional<TableShape>> out = new java.util.LinkedHashMap<>();
        for (int i = 0; i < tables.size(); i++) {
            out.put(tables.get(i), columns.get(i).isEmpty() ? Optional.empty()
                    : Optional.of(new TableShape(tables.get(i), columns.get(i), keys.get(i))));
        }
        return out;
    }

    /** The ordinary and partitioned tables of a schema, by name. */
    public static List<TableRef> tablesIn(Connection c, String schema) {
        try (PreparedStatement ps = c.prepareStatement("select c.relname from pg_catalog.pg_class c join pg_catalog.pg_namespace n "
                + "on n.oid = c.relnamespace where n.nspname = ? and c.relkind in ('r', 'p') and not c.relispartition order by 1")) {
            ps.setString(1, schema);
            List<TableRef> out = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new TableRef(schema, rs.getString(1)));
                }
            }
            return out;
        } catch (SQLException e) {
            throw new IbexException("listing the tables of schema " + schema + ": " + e.getMessage(), e);
        }
    }

    /** The table's shape, or empty when no such table exists on this node. */
    public static Optional<TableShape> inspect(Connection c, TableRef t) {
        return read(c, List.of(t), "the definition of table " + t).get(t);
    }
}
