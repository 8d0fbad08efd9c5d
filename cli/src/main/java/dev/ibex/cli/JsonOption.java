package dev.ibex.cli;

import picocli.CommandLine.Option;

/** {@code --json}: print the command's result as a JSON document for scripts instead of text for people. */
final class JsonOption {
    @Option(names = "--json", description = "Print JSON instead of text.")
    boolean requested;
}
