package dev.ibex.cli;


/** Entry point of the {@code ibex} command. */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs a command line and returns its exit code (0 ok, 1 failed or differs, 2 bad usage). */
    public static int run(String... args) {
        return Cli.commandLine().execute(args);
    }
}
