package dev.ibex.cli;

import dev.ibex.engine.IbexException;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.db.Redactor;
import java.io.PrintWriter;
import java.util.Arrays;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Builds the command line and maps failures to exit codes in one place: bad usage or
 * configuration is 2, a failed operation is 1; either prints one line, never a stack trace
 * (set IBEX_DEBUG=1 to see one) and never a credential.
 */
final class Cli {
    static final int OK = 0;
    static final int FAILED = 1;
    static final int USAGE = 2;

    /**
     * PgJDBC logs some connection failures through java.util.logging straight to standard error
     * (e.g. a host name that its certificate does not name), as two lines beside Ibex's own. The
     * same failure reaches the operator as the exception Ibex prints in one line, so the driver's
     * logger is silenced. Held here because java.util.logging keeps loggers weakly.
     */
    private static final Logger PGJDBC_LOG = Logger.getLogger("org.postgresql");

    static {
        PGJDBC_LOG.setLevel(Level.OFF);
    }

    private Cli() {
    }

    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new IbexCommand());
        // demo and bench start servers of their own: the inherited control-database options would mean nothing there
        for (String own : List.of("demo", "bench")) {
            CommandSpec spec = cl.getSubcommands().get(own).getCommandSpec();
            for (String option : List.of("--control", "--control-password-env")) {
                spec.remove(spec.findOption(option));
            }
        }
        cl.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            PrintWriter err = commandLine.getErr();
            err.println("ibex: " + Redactor.text(oneLine(e.getMessage() == null ? e.toString() : e.getMessage())));
            if (System.getenv("IBEX_DEBUG") != null) {
                e.printStackTrace(err);
            }
            err.flush();
            return e instanceof UsageException ? USAGE : FAILED;
        });
        cl.setParameterExceptionHandler((e, args) -> {
            PrintWriter err = e.getCommandLine().getErr();
            err.println("ibex: " + Redactor.text(oneLine(describe(e))) + " (see '"
                    + e.getCommandLine().getCommandSpec().qualifiedName() + " --help')");
            err.flush();
            // a monitoring check reads bad options as UNKNOWN (3), not as 2, which is CRITICAL there
            return Arrays.asList(args).contains("--check") ? StatusCheck.UNKNOWN : USAGE;
        });
        return cl;
    }

    /**
     * The parse error without echoing what followed an unknown word: that may be a value the
     * operator should not have typed (a password given to a flag that does not exist).
     */
    private static String describe(CommandLine.ParameterException e) {
        if (e instanceof CommandLine.UnmatchedArgumentException u && !u.getUnmatched().isEmpty()) {
            String first = u.getUnmatched().get(0);
            return (first.startsWith("-") ? "unknown option '" : "unknown command or argument '") + first + "'";
        }
        return e.getMessage().replaceFirst("^Error: ", "");
    }

    static String oneLine(String s) {
        return s.replaceAll("\\s*\\R\\s*", " ").trim();
    }

    /** An operation that failed in a way the operator can act on. */
    static IbexException failed(String message) {
        return new IbexException(message);
    }
}
