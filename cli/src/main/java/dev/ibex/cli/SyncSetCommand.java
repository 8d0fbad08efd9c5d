package dev.ibex.cli;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.config.SyncSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/**
 * {@code ibex sync set}: changes only the settings given on the command line and keeps the others;
 * the whole result is validated before anything is stored (invalid settings change nothing).
 */
@Command(name = "set", mixinStandardHelpOptions = true, description = {
        "Change settings of a sync: only those given, at least one. The running engine uses them from its next round.",
        "Changing to or from a custom strategy whose resolver reads row bases reinstalls capture, so every node must be reachable."})
final class SyncSetCommand extends ControlCommand {
    @Parameters(paramLabel = "NAME")
    String name;
    @Mixin
    SyncSettingsOptions settings;

    @Override
    public Integer call() {
        SyncSettingsOptions.Given given = settings.given();
        if (given.none()) {
            throw new UsageException("sync set " + name + ": nothing to change; give at least one of --strategy, --priority, "
                    + "--interval, --journal-retention, --max-clock-skew, --purge-interval, --node-retention");
        }
        try (Session s = new Session(control())) {
            s.installer().update(given.over(s.control.syncs().get(name)));
            out().println("sync " + name + " updated: " + describe(s.control.syncs().get(name)));
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
