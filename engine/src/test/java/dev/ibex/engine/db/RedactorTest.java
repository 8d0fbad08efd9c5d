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
        String once = "node a (" + Redactor.url("jdbc:postgresql://h/db?user=u&password=pw") + "): FATAL";
        assertEquals("node a (jdbc:postgresql://h/db?user=u&password=***): FATAL", once);
        assertEquals(once, Redactor.text(once), "redacting twice changes nothing");
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
