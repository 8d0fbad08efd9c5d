package dev.ibex.engine.round;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.net.ServerSocket;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

class DownNodesTest {
    @Test
    void aNodeThatFailedIsSkippedUntilForgotten() throws Exception {
        PGSimpleDataSource unreachable = new PGSimpleDataSource();
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        unreachable.setURL("jdbc:postgresql://127.0.0.1:" + port + "/none?connectTimeout=1");
        DownNodes down = new DownNodes();

        down.failed("c", "node c: connection refused", unreachable);
        assertEquals("node c: connection refused", down.skip("c"), "a round skips a node it just failed to reach");

        down.forget("c");
        assertNull(down.skip("c"), "after a resync took it back, the next round tries the node at once");
    }
}
