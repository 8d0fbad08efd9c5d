package dev.ibex.cli;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.config.Strategies;
import dev.ibex.engine.config.SyncSettings;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code ibex sync set}: changes only the settings given on the command line and keeps the others;
 * the whole result is validated before anything is stored (invalid settings change nothing).
 */
@Command(name = "set", mixinStandardHelpOptions = true, description = {
        "Change settings of a sync: only those given, at least one. The running engine uses them from its next round.",
        "Changing to or from a custom strategy whose resolver reads row bases reinstalls capture, so every node must be reachable."})
final class SyncSetCommand implements Callable<Integer> {
    @Mixin
    ControlOptions control;
    @Spec
    CommandSpec spec;
    @Parameters(paramLabel = "NAME")
    String name;
    @Option(names = "--strategy", paramLabel = "STRATEGY", description = SyncCommand.STRATEGY_HELP)
    String strategy;
    @Option(names = "--priority", split = ",", paramLabel = "NODE",
            description = SyncCommand.PRIORITY_HELP + " An empty value ('') clears it.")
    List<String> priority;
    @Option(names = "--interval", paramLabel = "DURATION", description = SyncCommand.INTERVAL_HELP + ".")
    String interval;
    @Option(names = "--journal-retention", paramLabel = "DURATION", description = SyncCommand.RETENTION_HELP + ".")
    String journalRetention;
    @Option(names = "--max-clock-skew", paramLabel = "DURATION", description = SyncCommand.SKEW_HELP + ".")
    String maxClockSkew;
    @Option(names = "--purge-interval", paramLabel = "DURATION", description = SyncCommand.PURGE_HELP + ".")
    String purgeInterval;
    @Option(names = "--node-retention", paramLabel = "DURATION", description = SyncCommand.NODE_RETENTION_HELP + ".")
    String nodeRetention;

    @Override
    public Integer call() {
        if (strategy == null && priority == null && interval == null && journalRetention == null && maxClockSkew == null
                && purgeInterval == null && nodeRetention == null) {
            throw new UsageException("sync set " + name + ": nothing to change; give at least one of --strategy, --priority, "
                    + "--interval, --journal-retention, --max-clock-skew, --purge-interval, --node-retention");
        }
        if (strategy != null) {
            Strategies.validate(strategy);
        }
        Duration every = interval == null ? null : Durations.positive("--interval", interval, "5s");
        Duration retention = journalRetention == null ? null : Durations.positive("--journal-retention", journalRetention, "30d");
        Duration skew = maxClockSkew == null ? null : Durations.positive("--max-clock-skew", maxClockSkew, "1s");
        Duration purge = purgeInterval == null ? null : Durations.notNegative("--purge-interval", purgeInterval, "1m");
        Duration away = nodeRetention == null ? null : Durations.positive("--node-retention", nodeRetention, "7d");
        List<String> order = priority == null ? null : priority.stream().filter(p -> !p.isBlank()).toList();
        try (Session s = new Session(control)) {
            SyncSettings before = s.control.syncs().get(name);
            SyncSettings after = new SyncSettings(before.name(), before.nodes(), before.tables(),
                    strategy == null ? before.strategy() : strategy, order == null ? before.priority() : order,
                    every == null ? before.interval() : every, before.paused(),
                    retention == null ? before.journalRetention() : retention, skew == null ? before.maxClockSkew() : skew,
                    purge == null ? before.purgeInterval() : purge, away == null ? before.nodeRetention() : away, before.resyncNeeded());
            s.installer().update(after);
            spec.commandLine().getOut().println("sync " + name + " updated: " + describe(s.control.syncs().get(name)));
            return Cli.OK;
        }
    }

    /** The settings this command changes, in one line. */
    static String describe(SyncSettings x) {
        return "strategy " + x.strategy() + ", priority " + (x.priority().isEmpty() ? "(none)" : String.join(",", x.priority()))
                + ", interval " + Durations.format(x.interval()) + ", journal retention " + Durations.format(x.journalRetention())
                + ", max clock skew " + Durations.format(x.maxClockSkew()) + ", purge interval " + Durations.format(x.purgeInterval())
                + ", node retention " + Durations.format(x.nodeRetention()) + " (nodes "
                + String.join(",", x.nodes().stream().map(NodeId::name).toList()) + ")";
    }
}
