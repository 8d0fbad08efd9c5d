package dev.ibex.cli;

import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.metrics.MetricsSettings;
import dev.ibex.engine.runtime.Engine;
import dev.ibex.engine.runtime.EngineOptions;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "start", mixinStandardHelpOptions = true,
        description = {"Run the engine in the foreground until SIGTERM or Ctrl-C; a round in flight stops after the chunk "
                + "it is applying (or is abandoned after 15 s), with nothing half-applied.",
                "",
                "Alone, the engine runs every sync of the control database that no other running engine owns. With "
                + "--cluster-bind and --cluster-seeds it joins the other engines in a Pekko Cluster: each sync runs on exactly "
                + "one engine, the syncs spread over the engines, and when an engine stops, crashes or is cut off its syncs move "
                + "to the others (see docs/operations.md). Cluster settings: ibex-cluster.conf in the jar, "
                + "overridden by --cluster-config FILE and by -D system properties."})
final class StartCommand extends ControlCommand {
    @Option(names = "--engine-name", paramLabel = "NAME",
            description = "This engine's name, recorded as the owner of the syncs it runs and listed by 'ibex engines' "
                    + "(default: HOST:PORT of --cluster-bind, or HOST/PID alone).")
    String engineName;

    @Option(names = "--cluster-bind", paramLabel = "HOST:PORT",
            description = "Join a cluster of engines, listening on HOST:PORT for the others (Artery TCP).")
    String clusterBind;

    @Option(names = "--cluster-seeds", paramLabel = "HOST:PORT", split = ",",
            description = "Engines to join the cluster through; list the same seeds on every engine. The first seed forms "
                    + "the cluster when it starts and no other seed runs.")
    List<String> clusterSeeds;

    @Option(names = "--cluster-config", paramLabel = "FILE",
            description = "A HOCON file whose settings override the jar's ibex-cluster.conf (for example the Split Brain "
                    + "Resolver's strategy).")
    Path clusterConfig;

    @Option(names = "--metrics-port", paramLabel = "PORT",
            description = "Serve Prometheus metrics at http://BIND:PORT/metrics and the engine's health at /health "
                    + "(0: any free port, printed at start; default: no metrics). See docs/metrics.md.")
    Integer metricsPort;

    @Option(names = "--metrics-bind", paramLabel = "HOST",
            description = "The address the metrics port listens on (default: " + MetricsSettings.DEFAULT_BIND + ", this machine "
                    + "only; 0.0.0.0 for every interface).")
    String metricsBind;

    @Override
    public Integer call() throws InterruptedException {
        EngineOptions options = options().withMetrics(metrics());
        ControlStore c = control().open();
        Engine engine = Engine.start(c, options);
        PrintWriter out = out();
        Thread hook = new Thread(() -> {
            out.println("ibex engine stopping: rounds in flight end after the chunk they are applying");
            out.flush();
            engine.close();
            engine.stopReport().forEach(line -> out.println("ibex engine stopped: " + line));
            out.println("ibex engine stopped");
            out.flush();
            c.close();
        }, "ibex-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        out.println("ibex engine running (engine " + engine.name() + ", " + c.syncs().all().size() + " sync(s)"
                + (options.cluster() != null ? ", cluster member at " + options.cluster().bind() + ", seeds "
                + options.cluster().seeds().stream().map(Object::toString).collect(java.util.stream.Collectors.joining(","))
                : "") + engine.metricsAddress().map(a -> ", metrics at http://" + a.getHostString() + ":" + a.getPort() + "/metrics")
                .orElse("") + "); stop with SIGTERM or Ctrl-C");
        out.flush();
        engine.awaitTermination();
        if (!engine.stoppedOnRequest()) {
            throw Cli.failed("the engine stopped by itself; see the log above");
        }
        return Cli.OK;
    }

    private MetricsSettings metrics() {
        if (metricsPort == null && metricsBind != null) {
            throw new UsageException("--metrics-bind needs --metrics-port PORT");
        }
        return metricsPort == null ? null
                : new MetricsSettings(metricsBind == null ? MetricsSettings.DEFAULT_BIND : metricsBind, metricsPort);
    }

    private EngineOptions options() {
        if (engineName != null && engineName.isBlank()) {
            throw new UsageException("--engine-name must not be empty");
        }
        if (clusterBind == null && clusterSeeds == null && clusterConfig == null) {
            return new EngineOptions(engineName, null);
        }
        if (clusterConfig != null && !java.nio.file.Files.isReadable(clusterConfig)) {
            throw new UsageException("--cluster-config: cannot read " + clusterConfig);
        }
        if (clusterBind == null || clusterSeeds == null) {
            throw new UsageException("a cluster member needs both --cluster-bind HOST:PORT and --cluster-seeds HOST:PORT[,...]");
        }
        EngineOptions.HostPort bind = EngineOptions.HostPort.parse("--cluster-bind", clusterBind);
        List<EngineOptions.HostPort> seeds = clusterSeeds.stream().map(s -> EngineOptions.HostPort.parse("--cluster-seeds", s.trim()))
                .toList();
        return new EngineOptions(engineName, new EngineOptions.Cluster(bind, seeds, clusterConfig));
    }
}
