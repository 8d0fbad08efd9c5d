package dev.ibex.engine.metrics;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.round.RoundObserver;
import dev.ibex.engine.status.StatusReader;
import io.prometheus.metrics.exporter.httpserver.MetricsHandler;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.sql.Connection;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;
import javax.sql.DataSource;

/**
 * The engine's HTTP endpoint: {@code GET /metrics} in the Prometheus text format (the counters of
 * {@link RoundMetrics}, the gauges of {@link NodeMetrics}, the JVM's standard metrics) and
 * {@code GET /health} (200 while the engine runs and reaches its control database, 503 otherwise,
 * with a JSON body saying why). Database reads behind a scrape are cached for {@link #FRESH} and
 * bounded by {@link #BOUND}, so scrapes never pile up on a dead node.
 */
public final class MetricsServer implements AutoCloseable {
    /** How long a status reading serves scrapes. */
    static final Duration FRESH = Duration.ofSeconds(1);
    /** How long a scrape waits for the databases before answering with what it has. */
    static final Duration BOUND = Duration.ofSeconds(3);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpServer http;
    private final ExecutorService handlers;
    private final ExecutorService reads;
    private final RoundMetrics rounds;

    private MetricsServer(HttpServer http, ExecutorService handlers, ExecutorService reads, RoundMetrics rounds) {
        this.http = http;
        this.handlers = handlers;
        this.reads = reads;
        this.rounds = rounds;
    }

    /**
     * Listens on {@code settings}; fails with a {@link UsageException} when it cannot (port taken,
     * unknown host).
     *
     * @param engine the engine's state for {@code /health}: {@value HealthCheck#RUNNING} or what it does instead
     */
    public static MetricsServer start(MetricsSettings settings, StatusReader status, DataSource control, Supplier<String> engine) {
        InetSocketAddress address = new InetSocketAddress(settings.bind(), settings.port());
        if (address.isUnresolved()) {
            throw new UsageException("--metrics-bind: unknown host '" + settings.bind()
                    + "'; give a host name or address such as 127.0.0.1");
        }
        HttpServer http;
        try {
            http = HttpServer.create(address, 16);
        } catch (IOException e) {
            throw new UsageException("--metrics-port: cannot listen on " + settings.bind() + ":" + settings.port() + " (" + e.getMessage()
                    + "); choose another port or --metrics-bind address", e);
        }
        ExecutorService handlers = Executors.newFixedThreadPool(2, daemon("ibex-metrics-http"));
        ExecutorService reads = Executors.newCachedThreadPool(daemon("ibex-metrics-read"));
        Clock clock = Clock.systemUTC();
        PrometheusRegistry registry = new PrometheusRegistry();
        RoundMetrics rounds = new RoundMetrics(registry);
        registry.register(new NodeMetrics(new CachedReading<>(status::all, FRESH, BOUND, reads, clock)::get));
        JvmMetrics.builder().register(registry);
        HealthCheck health = new HealthCheck(engine, new CachedReading<>(() -> validates(control), FRESH, BOUND, reads, clock));
        http.createContext("/metrics", new MetricsHandler(registry));
        http.createContext("/health", exchange -> health(exchange, health.check()));
        http.setExecutor(handlers);
        http.start();
        return new MetricsServer(http, handlers, reads, rounds);
    }

    private static boolean validates(DataSource control) throws java.sql.SQLException {
        try (Connection c = control.getConnection()) {
            return c.isValid((int) BOUND.toSeconds());
        }
    }

    private static void health(HttpExchange exchange, HealthCheck.Health h) throws IOException {
        try (exchange) {
            byte[] body = (JSON.writeValueAsString(h.json()) + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "application/json; charset=utf-8");
            boolean head = "HEAD".equalsIgnoreCase(exchange.getRequestMethod());
            exchange.sendResponseHeaders(h.up() ? 200 : 503, head ? -1 : body.length);
            if (!head) {
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            }
        }
    }

    private static java.util.concurrent.ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }

    /** The counters of the rounds this engine runs; give it to the engine's {@code RoundService}. */
    public RoundObserver rounds() {
        return rounds;
    }

    /** Where the server listens (with the port it took when asked for port 0). */
    public InetSocketAddress address() {
        return http.getAddress();
    }

    @Override
    public void close() {
        http.stop(0);
        handlers.shutdownNow();
        reads.shutdownNow();
    }
}
