package dev.ibex.engine.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.ibex.engine.capture.ColumnShape;
import dev.ibex.engine.capture.ShapeSql;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.config.TableRef;
import java.util.List;
import org.junit.jupiter.api.Test;

class SqlTemplateTest {
    private static final TableShape SHAPE = new TableShape(new TableRef("My Schema", "Order Line"),
            List.of(new ColumnShape("order", "bigint", true), new ColumnShape("Line", "numeric(6,2)", true),
                    new ColumnShape("note", "text", false)), List.of("order", "Line"));

    @Test
    void fillsHolesWithQuotedFragmentsOfTheShape() {
        ShapeSql sql = new ShapeSql(SHAPE);
        assertEquals("update \"My Schema\".\"Order Line\" t set \"order\" = a.\"order\", \"Line\" = a.\"Line\", \"note\" = a.\"note\" "
                + "from x a where t.\"order\" = a.\"order\" and t.\"Line\" = a.\"Line\"",
                sql.render("update {table} t set {set:a} from x a where {match:t,a}"));
        assertEquals("select \"order\", \"Line\" from \"ibex\".\"" + SHAPE.table().ledgerName() + "_log1\"",
                sql.render("select {keys} from {log1}"));
        assertEquals("select l.\"order\"::text, trim_scale(l.\"Line\")::text", sql.render("select {key_text:l}"),
                "numeric keys in one text form per value");
        assertEquals("unnest(?::text[], ?::text[]) with ordinality as k(k0, k1, ord) where t.\"order\" = k.k0::bigint "
                + "and t.\"Line\" = k.k1::numeric(6,2)", sql.render("{key_arrays} where {key_match:t}"));
    }

    @Test
    void leavesArrayLiteralsAloneAndRefusesUnknownHoles() {
        assertEquals("select '{}'::text[]", new ShapeSql(SHAPE).render("select '{}'::text[]"));
        assertThrows(IllegalArgumentException.class, () -> new ShapeSql(SHAPE).render("select {nothing}"));
    }
}
