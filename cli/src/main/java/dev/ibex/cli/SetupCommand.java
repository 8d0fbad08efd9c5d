package dev.ibex.cli;

import dev.ibex.engine.config.ControlStore;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

@Command(name = "setup", mixinStandardHelpOptions = true,
        description = "Create or upgrade the control schema (idempotent).")
final class SetupCommand implements Callable<Integer> {
    @Mixin
    ControlOptions control;
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        try (ControlStore c = control.connect()) {
            int n = c.migrate();
            spec.commandLine().getOut().println(n == 0 ? "control schema is up to date" : "control schema ready (" + n + " migrations applied)");
            return Cli.OK;
        }
    }
}
