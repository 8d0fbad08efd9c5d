package dev.ibex.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestInstance.Lifecycle;

/**
 * Checks the test kit itself against real servers: each {@link PgServer} runs the PostgreSQL major
 * the build picked and keeps its committed rows across a crash ({@link PgServer#kill()}) and a
 * clean stop, and each {@link TcpProxy} fault does what it promises to a JDBC connection.
 */
@TestInstance(Lifecycle.PER_CLASS)
class TestKitIT {
    private static final String DB = "kit";

    private final List<PgServer> servers = new ArrayList<>();

    @BeforeAll
    void startServers() {
        for (String name : List.of("alpha", "beta", "gamma")) {
            PgServer server = PgServer.start(name);
            servers.add(server);
            server.createDatabase(DB);
            server.execute(DB, "create table note (id int primary key, body text not null)",
                    "insert into note values (1, 'written on " + name + "')");
        }
    }

    @AfterAll
    void closeServers() {
        servers.forEach(PgServer::close);
    }

    /**
     * The build picks the major of the binaries on the classpath with {@code -Dpg.major=N} and tells
     * the tests through {@code ibex.pg.major}; outside Maven the default, 15, is expected.
     */
    @Test
    void serversRunTheMajorTheBuildPicked() {
        int expected = Integer.parseInt(System.getProperty("ibex.pg.major", "15"));
        for (PgServer server : servers) {
            assertEquals(expected, Integer.parseInt(server.rows(DB, "show server_version_num").get(0).get(0)) / 10000,
                    "major of " + server);
        }
    }

    @Test
    void eachServerHasItsOwnRow() throws SQLException {
        for (PgServer server : servers) {
            try (Connection c = server.connect(DB)) {
                assertEquals(List.of(List.of("1", "written on " + server.name())),
                        Sql.rows(c, "select id, body from note order by id"));
            }
        }
    }

    @Test
    void killedServerRecoversCommittedRowsOnTheSamePort() throws SQLException, IOException {
        PgServer alpha = servers.get(0);
        String url = alpha.jdbcUrl(DB);
        try (Connection c = alpha.connect(DB)) {
            Sql.exec(c, "insert into note values (?, ?)", 2, "committed just before the crash");
            alpha.kill();
            assertThrows(Sql.UncheckedSqlException.class, () -> Sql.count(c, "select 1"));
        }
        assertFalse(alpha.isRunning());
        assertThrows(Sql.UncheckedSqlException.class, () -> Sql.connect(url).close());

        alpha.restart();
        assertTrue(Files.readString(alpha.logFile()).contains("automatic recovery in progress"),
                "the restart after kill() recovered from a crash");
        try (Connection c = Sql.connect(url)) {
            assertEquals(List.of(List.of("1"), List.of("2")), Sql.rows(c, "select id from note order by id"));
        }
    }

    @Test
    void stoppedServerRestartsWithItsDataOnTheSamePort() throws SQLException {
        PgServer beta = servers.get(1);
        String url = beta.jdbcUrl(DB);
        beta.stop();
        assertFalse(beta.isRunning());
        assertThrows(Sql.UncheckedSqlException.class, () -> Sql.connect(url).close());

        beta.restart();
        try (Connection c = Sql.connect(url)) {
            assertEquals(List.of(List.of("written on beta")), Sql.rows(c, "select body from note"));
        }
    }

    @Test
    void proxyForwardsQueries() throws SQLException {
        PgServer gamma = servers.get(2);
        try (TcpProxy proxy = TcpProxy.start("127.0.0.1", gamma.port());
                Connection c = Sql.connect(proxy.rewrite(gamma.jdbcUrl(DB)))) {
            assertEquals(List.of(List.of("written on gamma")), Sql.rows(c, "select body from note"));
        }
    }

    @Test
    void cutBreaksConnectionsAndRefusesNewOnesUntilHealed() throws SQLException {
        PgServer gamma = servers.get(2);
        try (TcpProxy proxy = TcpProxy.start("127.0.0.1", gamma.port())) {
            String url = proxy.rewrite(gamma.jdbcUrl(DB)) + "&socketTimeout=3&connectTimeout=3";
            try (Connection c = Sql.connect(url)) {
                assertEquals(1, Sql.count(c, "select 1"));
                proxy.cut();
                long started = System.nanoTime();
                assertThrows(Sql.UncheckedSqlException.class, () -> Sql.count(c, "select 1"));
                assertTrue(elapsed(started).compareTo(Duration.ofSeconds(5)) < 0, "failed within 5 s");
            }
            assertThrows(Sql.UncheckedSqlException.class, () -> Sql.connect(url).close());

            proxy.heal();
            try (Connection c = Sql.connect(url)) {
                assertEquals(1, Sql.count(c, "select 1"));
            }
        }
    }

    @Test
    void stallHoldsQueriesUntilTheSocketTimeout() throws SQLException {
        PgServer gamma = servers.get(2);
        try (TcpProxy proxy = TcpProxy.start("127.0.0.1", gamma.port())) {
            String url = proxy.rewrite(gamma.jdbcUrl(DB)) + "&socketTimeout=2";
            try (Connection c = Sql.connect(url)) {
                proxy.stall();
                long started = System.nanoTime();
                assertThrows(Sql.UncheckedSqlException.class, () -> Sql.count(c, "select 1"));
                Duration took = elapsed(started);
                assertTrue(took.compareTo(Duration.ofMillis(1900)) >= 0, "held until the timeout, took " + took);
                assertTrue(took.compareTo(Duration.ofSeconds(10)) < 0, "failed by the timeout, took " + took);
            }
            proxy.heal();
            try (Connection c = Sql.connect(url)) {
                assertEquals(1, Sql.count(c, "select 1"));
            }
        }
    }

    @Test
    void delayAddsLatencyToEachRoundTrip() throws SQLException {
        PgServer gamma = servers.get(2);
        try (TcpProxy proxy = TcpProxy.start("127.0.0.1", gamma.port());
                Connection c = Sql.connect(proxy.rewrite(gamma.jdbcUrl(DB)))) {
            assertEquals(1, Sql.count(c, "select 1"));
            proxy.delay(Duration.ofMillis(200));
            long started = System.nanoTime();
            assertEquals(1, Sql.count(c, "select 1"));
            Duration took = elapsed(started);
            assertTrue(took.compareTo(Duration.ofMillis(200)) >= 0, "select 1 took " + took);
        }
    }

    private static Duration elapsed(long startNanos) {
        return Duration.ofNanos(System.nanoTime() - startNanos);
    }
}
