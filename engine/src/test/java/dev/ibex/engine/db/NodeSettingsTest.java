package dev.ibex.engine.db;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.engine.UsageException;
import org.junit.jupiter.api.Test;

class NodeSettingsTest {
    @Test
    void aUrlWithAPasswordOrKeyPassphraseIsRefusedWithoutEchoingIt() {
        for (String url : new String[] {"jdbc:postgresql://h:5432/db?user=u&password=s3cr3tPw",
                "jdbc:postgresql://h/db?password=s3cr3tPw&user=u", "jdbc:postgresql://h/db?user=u&sslpassword=s3cr3tPw"}) {
            NodeSettings n = new NodeSettings("paris", url, null);
            UsageException e = assertThrows(UsageException.class, n::requireNoPasswordInUrl, url);
            assertTrue(e.getMessage().startsWith("node paris: ") && e.getMessage().contains("--password-env"), e::getMessage);
            assertFalse(e.getMessage().contains("s3cr3tPw"), e::getMessage);
        }
    }

    @Test
    void tlsSettingsAndAPasswordVariableAreAccepted() {
        NodeSettings n = new NodeSettings("oslo",
                "jdbc:postgresql://h/db?user=u&sslmode=verify-full&sslrootcert=/etc/ibex/ca.crt&sslkey=/k.pk8", "OSLO_PW");
        assertDoesNotThrow(n::requireNoPasswordInUrl);
    }
}
