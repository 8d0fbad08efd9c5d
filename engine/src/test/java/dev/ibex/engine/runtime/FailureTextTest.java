package dev.ibex.engine.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ibex.engine.db.NodeUnreachableException;
import java.sql.SQLException;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

class FailureTextTest {
    @Test
    void ibexsOwnMessageWithoutWrappersOrCredentials() {
        Throwable t = new CompletionException(new NodeUnreachableException(
                "control database unreachable: jdbc:postgresql://h/db?user=u&password=s3cr3t\n  refused", new SQLException("x")));
        assertEquals("control database unreachable: jdbc:postgresql://h/db?user=u&password=*** refused", FailureText.of(t));
    }

    @Test
    void otherFailuresByTheirClassAndMessage() {
        assertEquals("java.lang.IllegalStateException: boom", FailureText.of(new CompletionException(new IllegalStateException("boom"))));
    }
}
