package dev.ibex.cli;

import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.journal.ConflictEntry;
import dev.ibex.engine.journal.ConflictJournal;
import java.io.PrintWriter;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "conflicts", mixinStandardHelpOptions = true,
        description = {"The conflict journal, newest first: key, sides (node and change time), strategy, winner.",
                "--json adds every side's version and full row image."})
final class ConflictsCommand implements Callable<Integer> {
    @Mixin
    ControlOptions control;
    @Spec
    CommandSpec spec;
    @Parameters(arity = "0..1", paramLabel = "SYNC")
    String sync;
    @Option(names = "--table", paramLabel = "TABLE")
    String table;
    @Option(names = "--since", paramLabel = "DURATION", description = "Only conflicts decided within this long (e.g. 1h).")
    String since;
    @Option(names = "--limit", defaultValue = "100", description = "At most this many (default 100).")
    int limit;
    @Option(names = "--json", description = "Print JSON.")
    boolean json;

    @Override
    public Integer call() {
        try (ControlStore c = control.open()) {
            if (sync != null) {
                c.sync(sync);
            }
            Instant from = since == null ? null : Instant.now().minus(Durations.parse("--since", since));
            List<ConflictEntry> entries = new ConflictJournal(c.dsl()).list(sync, table == null ? null : TableRef.parse(table), from, limit);
            print(spec.commandLine().getOut(), entries, json);
            return Cli.OK;
        }
    }

    static void print(PrintWriter out, List<ConflictEntry> entries, boolean json) {
        if (json) {
            Output.json(out, entries);
            return;
        }
        Output.table(out, List.of("ID", "SYNC", "TABLE", "KEY", "STRATEGY", "WINNER", "SIDES"), entries.stream()
                .map(e -> Output.row(e.id(), e.sync(), new TableRef(e.tableSchema(), e.tableName()), String.join(",", e.key()),
                        e.strategy(), e.winner(), e.sides().stream().map(ConflictsCommand::side).collect(Collectors.joining(" | "))))
                .toList());
    }

    private static String side(ConflictEntry.SideEntry s) {
        return s.origin() + "@" + s.changedAt() + (s.row() == null ? " (deleted)" : "");
    }
}
