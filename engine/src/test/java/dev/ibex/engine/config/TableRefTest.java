package dev.ibex.engine.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.UsageException;
import org.junit.jupiter.api.Test;

class TableRefTest {
    @Test
    void parsesPlainQualifiedAndQuotedNames() {
        assertEquals(new TableRef("public", "accounts"), TableRef.parse("accounts"));
        assertEquals(new TableRef("shop", "Order"), TableRef.parse("shop.Order"));
        assertEquals(new TableRef("My Schema", "a.b\"c"), TableRef.parse("\"My Schema\".\"a.b\"\"c\""));
        assertEquals("\"My Schema\".\"a.b\"\"c\"", TableRef.parse("\"My Schema\".\"a.b\"\"c\"").toString());
    }

    @Test
    void refusesMalformedNames() {
        for (String bad : new String[] {"", "a.b.c", "\"open", ".x", "x."}) {
            assertThrows(UsageException.class, () -> TableRef.parse(bad), bad);
        }
    }

    @Test
    void ledgerNamesAreStableShortAndDistinct() {
        String l = new TableRef("s", "t").ledgerName();
        assertEquals(l, new TableRef("s", "t").ledgerName());
        assertNotEquals(l, new TableRef("s.t", "").ledgerName());
        assertTrue(l.matches("ledger_[0-9a-f]{16}"));
    }
}
