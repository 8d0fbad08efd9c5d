package dev.ibex.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** The top-level {@code ibex} command; see the subcommands. Holds the options every subcommand inherits. */
@Command(name = "ibex", mixinStandardHelpOptions = true, version = "ibex 0.1.0",
        description = "Asynchronous multi-master replication for PostgreSQL.",
        subcommands = {SetupCommand.class, NodeCommand.class, SyncCommand.class, TableCommand.class, SequencesCommand.class, SchemaCommand.class, StartCommand.class,
                EnginesCommand.class, StatusCommand.class, ConflictsCommand.class, TraceCommand.class, ValidateCommand.class, DemoCommand.class,
                dev.ibex.cli.bench.BenchCommand.class},
        footer = {"", "Exit codes: 0 success, 1 operation failed or data differs, 2 bad usage or configuration.",
                "The control database comes from --control or IBEX_CONTROL (before or after the subcommand); passwords from "
                        + "the URL, ~/.pgpass or --control-password-env / --password-env, never from a command-line value."})
final class IbexCommand {
    @Mixin
    GlobalOptions global;
}
