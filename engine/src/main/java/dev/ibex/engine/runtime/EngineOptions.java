package dev.ibex.engine.runtime;

import dev.ibex.engine.UsageException;
import dev.ibex.engine.metrics.MetricsSettings;
import java.nio.file.Path;
import java.util.List;

/**
 * How an engine runs: its name (what the control database records as the owner of its syncs and
 * lists in {@code ibex engines}), to share the syncs with other engines its cluster settings, and
 * where it serves its metrics.
 *
 * @param name    null for the default: {@code HOST:PORT} of the cluster address, or {@code HOST/PID} standalone
 * @param cluster null to run standalone (every sync of the control database that no running engine owns)
 * @param metrics null to serve no metrics
 */
public record EngineOptions(String name, Cluster cluster, MetricsSettings metrics) {
    public static final EngineOptions STANDALONE = new EngineOptions(null, null);

    /** Without metrics. */
    public EngineOptions(String name, Cluster cluster) {
        this(name, cluster, null);
    }

    /** These options with metrics served at {@code metrics} (null: none). */
    public EngineOptions withMetrics(MetricsSettings metrics) {
        return new EngineOptions(name, cluster, metrics);
    }

    /**
     * A Pekko Cluster member's settings.
     *
     * @param bind   the host and port this engine listens on for the other engines (Artery TCP)
     * @param seeds  engines to join through ({@code HOST:PORT}); the first one forms the cluster when none runs
     * @param config a HOCON file whose settings override {@code ibex-cluster.conf} (null: none)
     */
    public record Cluster(HostPort bind, List<HostPort> seeds, Path config) {
        public Cluster {
            seeds = List.copyOf(seeds);
            if (seeds.isEmpty()) {
                throw new UsageException("--cluster-seeds: give at least one HOST:PORT (this engine's own --cluster-bind "
                        + "to form a new cluster)");
            }
        }
    }

    /** A host and a TCP port. */
    public record HostPort(String host, int port) {
        public static HostPort parse(String option, String text) {
            int colon = text.lastIndexOf(':');
            if (colon <= 0 || colon == text.length() - 1) {
                throw new UsageException(option + ": expected HOST:PORT, got '" + text + "'");
            }
            int port;
            try {
                port = Integer.parseInt(text.substring(colon + 1));
            } catch (NumberFormatException e) {
                throw new UsageException(option + ": the port of '" + text + "' is not a number");
            }
            if (port < 0 || port > 65535) {
                throw new UsageException(option + ": port " + port + " is out of range (0-65535)");
            }
            return new HostPort(text.substring(0, colon), port);
        }

        @Override
        public String toString() {
            return host + ":" + port;
        }
    }
}
