package dev.ibex.engine.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import org.junit.jupiter.api.Test;

class RedactorTest {
    @Test
    void hidesPasswordsInUrlsAndText() {
        assertEquals("jdbc:postgresql://h:5432/db?user=u&password=***&ssl=true",
                Redactor.url("jdbc:postgresql://h:5432/db?user=u&password=s3cr3t&ssl=true"));
        assertFalse(Redactor.text("failed for postgresql://bob:hunter2@host/db").contains("hunter2"));
        assertFalse(Redactor.text("PASSWORD=abc sslpassword=def").contains("abc"));
        assertEquals("no secrets here", Redactor.text("no secrets here"));
    }

    @Test
    void classifiesBySqlState() {
        assertEquals(SqlErrors.Kind.TRANSIENT, SqlErrors.classify(new java.sql.SQLException("x", "08006")));
        assertEquals(SqlErrors.Kind.TRANSIENT, SqlErrors.classify(new java.sql.SQLException("x", "40P01")));
        assertEquals(SqlErrors.Kind.AUTHENTICATION, SqlErrors.classify(new java.sql.SQLException("x", "28P01")));
        assertEquals(SqlErrors.Kind.PERMANENT, SqlErrors.classify(new java.sql.SQLException("x", "42P01")));
        assertEquals(SqlErrors.Kind.TRANSIENT, SqlErrors.classify(new RuntimeException(new java.sql.SQLException("x", "57P01"))));
    }
}
