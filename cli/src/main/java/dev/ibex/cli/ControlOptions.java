package dev.ibex.cli;

import dev.ibex.engine.config.ControlStore;
import picocli.CommandLine.Option;

/** Where the control database is: {@code --control JDBC_URL} or {@code IBEX_CONTROL}. */
final class ControlOptions {
    @Option(names = "--control", paramLabel = "JDBC_URL", defaultValue = "${env:IBEX_CONTROL}",
            description = "Control database JDBC URL (default: $IBEX_CONTROL).")
    String url;

    @Option(names = "--control-password-env", paramLabel = "VAR",
            description = "Environment variable holding the control database password.")
    String passwordEnv;

    /** Opens the control store and checks that 'ibex setup' has run. */
    ControlStore open() {
        ControlStore c = ControlStore.open(url, passwordEnv);
        try {
            c.requireSetUp();
            return c;
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
    }
}
