package dev.ibex.engine.install;

import dev.ibex.engine.capture.TableInspector;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.db.Idents;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A primary-key column that takes its values from a sequence, as one node has it: a serial or
 * identity column (the sequence depends on the column) or a {@code nextval('seq')} default (the
 * default depends on the sequence). Independent masters drawing such keys hand out the same values.
 */
public record KeySequence(TableRef table, String column, String schema, String sequence) {
    private static final String KEY_SEQUENCES = """
            select distinct n.nspname, s.relname from pg_class s join pg_namespace n on n.oid = s.relnamespace
             where s.relkind = 'S' and s.oid in (
               select d.refobjid from pg_attrdef ad join pg_depend d on d.classid = 'pg_attrdef'::regclass and d.objid = ad.oid
                where d.refclassid = 'pg_class'::regclass and ad.adrelid = to_regclass(?)
                  and ad.adnum = (select attnum from pg_attribute where attrelid = to_regclass(?) and attname = ?)
               union
               select d.objid from pg_depend d where d.classid = 'pg_class'::regclass and d.refclassid = 'pg_class'::regclass
                and d.deptype in ('a', 'i') and d.refobjid = to_regclass(?)
                and d.refobjsubid = (select attnum from pg_attribute where attrelid = to_regclass(?) and attname = ?))
             order by 1, 2""";

    public String sequenceName() {
        return schema + "." + sequence;
    }

    /** The key columns of {@code table} that take their values from a sequence on this node. */
    public static List<KeySequence> read(Connection c, TableRef table) throws SQLException {
        Optional<TableShape> shape = TableInspector.inspect(c, table);
        List<KeySequence> out = new ArrayList<>();
        if (shape.isEmpty()) {
            return out;
        }
        String rel = Idents.name(table.schema(), table.name());
        for (String column : shape.get().key()) {
            try (PreparedStatement ps = c.prepareStatement(KEY_SEQUENCES)) {
                ps.setString(1, rel);
                ps.setString(2, rel);
                ps.setString(3, column);
                ps.setString(4, rel);
                ps.setString(5, rel);
                ps.setString(6, column);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        out.add(new KeySequence(table, column, rs.getString(1), rs.getString(2)));
                    }
                }
            }
        }
        return out;
    }
}
