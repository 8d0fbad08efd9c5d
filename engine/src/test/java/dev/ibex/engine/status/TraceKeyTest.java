package dev.ibex.engine.status;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.UsageException;
import dev.ibex.engine.capture.ColumnShape;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.config.TableRef;
import java.util.List;
import org.junit.jupiter.api.Test;

class TraceKeyTest {
    private static final TableShape ONE = new TableShape(new TableRef("public", "t"),
            List.of(new ColumnShape("id", "text", true), new ColumnShape("v", "text", false)), List.of("id"));
    private static final TableShape TWO = new TableShape(new TableRef("shop", "line"),
            List.of(new ColumnShape("qty", "integer", false), new ColumnShape("sku", "text", true), new ColumnShape("ord", "integer", true)),
            List.of("ord", "sku"));

    @Test
    void aOneColumnKeyIsTakenWholeCommasIncluded() {
        assertEquals(List.of("a,b"), TraceKey.parse("a,b", ONE));
        assertEquals(List.of(" 7"), TraceKey.parse(" 7", ONE));
    }

    @Test
    void aCompositeKeyIsSplitOnCommasInKeyOrder() {
        assertEquals(List.of("1", "B"), TraceKey.parse("1,B", TWO));
        assertEquals(List.of("1", " B"), TraceKey.parse("1, B", TWO), "values are taken exactly as written");
    }

    @Test
    void aJsonObjectNamesEveryKeyColumnInAnyOrder() {
        assertEquals(List.of("3", "x,y"), TraceKey.parse("{\"sku\": \"x,y\", \"ord\": 3}", TWO));
        assertEquals(List.of("{x}"), TraceKey.parse("{\"id\": \"{x}\"}", ONE));
    }

    @Test
    void refusalsNameTheKeyColumnsAndTheirTypes() {
        UsageException few = assertThrows(UsageException.class, () -> TraceKey.parse("1", TWO));
        assertTrue(few.getMessage().contains("1 value(s) for the 2 key columns of shop.line (ord integer, sku text)"), few.getMessage());
        UsageException many = assertThrows(UsageException.class, () -> TraceKey.parse("1,B,C", TWO));
        assertTrue(many.getMessage().contains("3 value(s)"), many.getMessage());
        UsageException missing = assertThrows(UsageException.class, () -> TraceKey.parse("{\"ord\": 1}", TWO));
        assertTrue(missing.getMessage().contains("missing: [sku]"), missing.getMessage());
        UsageException unknown = assertThrows(UsageException.class, () -> TraceKey.parse("{\"ord\": 1, \"sku\": \"B\", \"qty\": 2}", TWO));
        assertTrue(unknown.getMessage().contains("not key columns: [qty]"), unknown.getMessage());
        UsageException nul = assertThrows(UsageException.class, () -> TraceKey.parse("{\"ord\": null, \"sku\": \"B\"}", TWO));
        assertTrue(nul.getMessage().contains("key column ord needs a value"), nul.getMessage());
        UsageException broken = assertThrows(UsageException.class, () -> TraceKey.parse("{\"ord\": ", TWO));
        assertTrue(broken.getMessage().startsWith("key is not valid JSON"), broken.getMessage());
    }
}
