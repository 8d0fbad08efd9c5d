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
    /**
     * Every column and key column of many tables at once, and what each table is: table ordinal,
     * kind (c column, k key column, r relation), then for c: name, type, not null, position; for k:
     * name, index name, primary, position; for r: the schema and name of the partitioned table it is
     * a partition of (or nulls), whether a partition of it is itself partitioned, 1 if it is
     * partitioned. The key is the primary key, else among unique indexes that are valid, not
     * deferrable, not partial, without expressions and over NOT NULL columns only, the one with the
     * fewest columns, then the first by name (the node's {@code ibex.key_index} applies the same rule).
     */
    private static final String ALL = """
            with t as (
              select t.ord, c.oid, c.relkind, c.relispartition
                from unnest(?::text[], ?::text[]) with ordinality as t(schema, name, ord)
                join pg_catalog.pg_namespace n on n.nspname = t.schema
                join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = t.name and c.relkind in ('r', 'p'))
            select t.ord, 'c', a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attnum::int
              from t join pg_catalog.pg_attribute a on a.attrelid = t.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
            union all
            select t.ord, 'k', a.attname::text, x.relname::text, x.indisprimary, k.ord::int
              from t
              cross join lateral (
                select i.indexrelid, i.indkey, i.indnkeyatts, i.indisprimary, ic.relname
                  from pg_catalog.pg_index i join pg_catalog.pg_class ic on ic.oid = i.indexrelid
                 where i.indrelid = t.oid
                   and (i.indisprimary
                        or (i.indisunique and i.indisvalid and i.indimmediate and i.indpred is null and i.indexprs is null
                            and not exists (select 1 from unnest(i.indkey) with ordinality as k(attnum, ord)
                                             left join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
                                            where k.ord <= i.indnkeyatts and (a.attnum is null or not a.attnotnull))))
                 order by i.indisprimary desc, i.indnkeyatts, ic.relname
                 limit 1) x
              cross join lateral unnest(x.indkey) with ordinality as k(attnum, ord)
              join pg_catalog.pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum
             where k.ord <= x.indnkeyatts
            union all
            select t.ord, 'r', rn.nspname::text, r.relname::text,
                   exists (select 1 from pg_catalog.pg_partition_tree(t.oid) p
                            where p.level > 0 and not p.isleaf),
                   case when t.relkind = 'p' then 1 else 0 end
              from t
              left join pg_catalog.pg_class r on t.relispartition and r.oid = pg_catalog.pg_partition_root(t.oid)
              left join pg_catalog.pg_namespace rn on rn.oid = r.relnamespace
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
        String[] keyIndex = new String[tables.size()];
        boolean[] primary = new boolean[tables.size()];
        TableShape.Partitioning[] partitioning = new TableShape.Partitioning[tables.size()];
        for (int i = 0; i < tables.size(); i++) {
            columns.add(new ArrayList<>());
            keys.add(new ArrayList<>());
        }
        try (PreparedStatement ps = c.prepareStatement(ALL)) {
            Object[] schemas = tables.stream().map(TableRef::schema).toArray();
            Object[] names = tables.stream().map(TableRef::name).toArray();
            ps.setArray(1, c.createArrayOf("text", schemas));
            ps.setArray(2, c.createArrayOf("text", names));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    int t = rs.getInt(1) - 1;
                    switch (rs.getString(2)) {
                        case "c" -> columns.get(t).add(new ColumnShape(rs.getString(3), rs.getString(4), rs.getBoolean(5)));
                        case "k" -> {
                            keys.get(t).add(rs.getString(3));
                            keyIndex[t] = rs.getString(4);
                            primary[t] = rs.getBoolean(5);
                        }
                        default -> partitioning[t] = new TableShape.Partitioning(rs.getInt(6) == 1, rs.getBoolean(5),
                                rs.getString(4) == null ? null : new TableRef(rs.getString(3), rs.getString(4)));
                    }
                }
            }
        } catch (SQLException e) {
            throw new IbexException("reading " + what + ": " + e.getMessage(), e);
        }
        java.util.Map<TableRef, Optional<TableShape>> out = new java.util.LinkedHashMap<>();
        for (int i = 0; i < tables.size(); i++) {
            out.put(tables.get(i), columns.get(i).isEmpty() ? Optional.empty()
                    : Optional.of(new TableShape(tables.get(i), columns.get(i), keys.get(i), keyIndex[i], primary[i], partitioning[i])));
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

    /** Every partition of a partitioned table on this node, at any level, by name. */
    public static List<TableRef> partitionsOf(Connection c, TableRef table) {
        try (PreparedStatement ps = c.prepareStatement("select n.nspname, p.relname from pg_catalog.pg_partition_tree(to_regclass(?)) t "
                + "join pg_catalog.pg_class p on p.oid = t.relid join pg_catalog.pg_namespace n on n.oid = p.relnamespace "
                + "where t.level > 0 order by 1, 2")) {
            ps.setString(1, dev.ibex.engine.db.Idents.name(table.schema(), table.name()));
            List<TableRef> out = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new TableRef(rs.getString(1), rs.getString(2)));
                }
            }
            return out;
        } catch (SQLException e) {
            throw new IbexException("listing the partitions of table " + table + ": " + e.getMessage(), e);
        }
    }

    /** The table's shape, or empty when no such table exists on this node. */
    public static Optional<TableShape> inspect(Connection c, TableRef t) {
        return read(c, List.of(t), "the definition of table " + t).get(t);
    }
}
