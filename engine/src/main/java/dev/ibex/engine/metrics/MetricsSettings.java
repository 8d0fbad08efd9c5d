package dev.ibex.engine.metrics;

import dev.ibex.engine.UsageException;

/**
 * Where the engine serves {@code /metrics} and {@code /health}: a host or address to bind and a
 * TCP port (0: any free port; the engine says which it took).
 */
public record MetricsSettings(String bind, int port) {
    /** Loopback only: other machines (Prometheus included) reach the port only when the operator says so. */
    public static final String DEFAULT_BIND = "127.0.0.1";

    public MetricsSettings {
        if (bind == null || bind.isBlank()) {
            throw new UsageException("--metrics-bind must not be empty: give a host name or address such as 127.0.0.1 or 0.0.0.0");
        }
        if (port < 0 || port > 65535) {
            throw new UsageException("--metrics-port: " + port + " is out of range (0-65535)");
        }
    }
}
