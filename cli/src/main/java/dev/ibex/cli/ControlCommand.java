package dev.ibex.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * A command that works on the control database. Its control options are the top command's
 * ({@link GlobalOptions}, inherited by every subcommand), so that they are declared once and may
 * be given before or after the subcommand's name.
 */
abstract class ControlCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    /** Where the control database is, as given anywhere on the command line. */
    GlobalOptions control() {
        return ((IbexCommand) spec.root().userObject()).global;
    }

    PrintWriter out() {
        return spec.commandLine().getOut();
    }

    PrintWriter err() {
        return spec.commandLine().getErr();
    }
}
