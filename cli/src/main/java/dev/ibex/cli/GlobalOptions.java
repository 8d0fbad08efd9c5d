package dev.ibex.cli;

import dev.ibex.engine.UsageException;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.db.Redactor;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/**
 * The options of {@code ibex} itself, inherited by every subcommand: where the control database
 * is ({@code --control JDBC_URL} or {@code IBEX_CONTROL}) and which environment variable holds its
 * password. They may come before or after the subcommand's name; either way the value lands here,
 * on the top command, and commands reach it through {@link ControlCommand#control()}.
 */
final class GlobalOptions {
    @Option(names = "--control", paramLabel = "JDBC_URL", defaultValue = "${env:IBEX_CONTROL}", scope = ScopeType.INHERIT,
            description = "Control database JDBC URL (default: $IBEX_CONTROL).")
    String url;

    @Option(names = "--control-password-env", paramLabel = "VAR", scope = ScopeType.INHERIT,
            description = "Environment variable holding the control database password.")
    String passwordEnv;

    /**
     * Connects to the control database. A password in a URL given with {@code --control} is
     * refused: every user of the machine can read a command line.
     */
    ControlStore connect() {
        if (Redactor.carriesPassword(url) && !url.equals(System.getenv("IBEX_CONTROL"))) {
            throw new UsageException("--control: the URL carries a password, which every user of this machine can read in "
                    + "the process list; put the URL in IBEX_CONTROL instead, or the password in --control-password-env VAR "
                    + "or ~/.pgpass");
        }
        return ControlStore.open(url, passwordEnv);
    }

    /** Connects to the control database and checks that 'ibex setup' has run. */
    ControlStore open() {
        ControlStore c = connect();
        try {
            c.requireSetUp();
            return c;
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
    }
}
