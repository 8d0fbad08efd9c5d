package dev.ibex.cli;

import dev.ibex.engine.config.ControlStore;
import picocli.CommandLine.Command;

@Command(name = "setup", mixinStandardHelpOptions = true,
        description = "Create or upgrade the control schema (idempotent).")
final class SetupCommand extends ControlCommand {

    @Override
    public Integer call() {
        try (ControlStore c = control().connect()) {
            int n = c.migrate();
            out().println(n == 0 ? "control schema is up to date" : "control schema ready (" + n + " migrations applied)");
            return Cli.OK;
        }
    }
}
