package dev.ibex.cli;

import dev.ibex.engine.UsageException;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.journal.ConflictEntry;
import dev.ibex.engine.journal.ConflictJournal;
import java.io.PrintWriter;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.temporal.ChronoUnit;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code ibex conflicts}: the conflict journal, newest first; {@code show} and {@code resolve} act
 * on one entry.
 */
@Command(name = "conflicts", mixinStandardHelpOptions = true,
        description = {"The conflict journal, newest first: key, status, strategy, winner, sides (node and change time).",
                "Status: decided (a strategy chose), open (held by the manual strategy for an operator), resolved (an operator "
                        + "chose; the next round applies it), applied.",
                "--json adds every side's version and full row image. See also 'conflicts show ID' and 'conflicts resolve ID'."},
        subcommands = {ConflictShowCommand.class, ConflictResolveCommand.class})
final class ConflictsCommand implements Callable<Integer> {
    @Mixin
    ControlOptions control;
    @Spec
    CommandSpec spec;
    @Parameters(arity = "0..1", paramLabel = "SYNC", description = "Only this sync (the same as --sync).")
    String syncArgument;
    @Option(names = "--sync", paramLabel = "SYNC", description = "Only this sync (use it for a sync named 'show' or 'resolve').")
    String syncOption;
    @Option(names = "--table", paramLabel = "TABLE", description = "Only this table (TABLE or SCHEMA.TABLE).")
    String table;
    @Option(names = "--since", paramLabel = "DURATION", description = "Only conflicts decided (or held) within this long (e.g. 1h).")
    String since;
    @Option(names = "--open", description = "Only conflicts held for an operator: open, or resolved and not yet applied.")
    boolean open;
    @Option(names = "--limit", defaultValue = "100", paramLabel = "N", description = "At most this many (default 100).")
    int limit;
    @Option(names = "--json", description = "Print JSON.")
    boolean json;

    @Override
    public Integer call() {
        String sync = sync();
        if (limit < 1) {
            throw new UsageException("--limit " + limit + " must be at least 1");
        }
        Instant from = since == null ? null : Instant.now().minus(Durations.parse("--since", since));
        TableRef ref = table == null ? null : TableRef.parse(table);
        try (ControlStore c = control.open()) {
            if (sync != null) {
                c.syncs().get(sync);
                if (ref != null) {
                    c.tables().requireMembers(sync, List.of(ref));
                }
            }
            List<ConflictEntry> entries = new ConflictJournal(c.dsl()).list(sync, ref, from, open, limit);
            print(spec.commandLine().getOut(), entries, json);
            return Cli.OK;
        }
    }

    private String sync() {
        if (syncArgument != null && syncOption != null && !syncArgument.equals(syncOption)) {
            throw new UsageException("SYNC '" + syncArgument + "' and --sync '" + syncOption + "' differ; name the sync once");
        }
        return syncOption != null ? syncOption : syncArgument;
    }

    static void print(PrintWriter out, List<ConflictEntry> entries, boolean json) {
        if (json) {
            Output.json(out, entries);
            return;
        }
        Output.table(out, List.of("ID", "SYNC", "TABLE", "KEY", "STATUS", "STRATEGY", "WINNER", "DECIDED", "SIDES"), entries.stream()
                .map(e -> Output.row(e.id(), e.sync(), table(e), String.join(",", e.key()), e.status(), e.strategy(),
                        e.winner() == null ? "-" : e.winner(), time(e.decidedAt()),
                        sides(e).stream().map(s -> label(s, false)).collect(Collectors.joining(" | "))))
                .toList());
    }

    static TableRef table(ConflictEntry e) {
        return new TableRef(e.tableSchema(), e.tableName());
    }

    /** The sides of an entry in node name order, as people read them. */
    static List<ConflictEntry.SideEntry> sides(ConflictEntry e) {
        return e.sides().stream().sorted(Comparator.comparing(ConflictEntry.SideEntry::node)).toList();
    }

    /** A side as "node (origin) @ change time", with " v[version]" when asked; "(deleted)" for a deletion. */
    static String label(ConflictEntry.SideEntry s, boolean withVersion) {
        return s.node() + (Objects.equals(s.node(), s.origin()) && !withVersion ? "" : " (" + s.origin() + ")")
                + " @ " + (s.changedAt() == null ? "?" : s.changedAt())
                + (withVersion ? " v" + s.version() : "") + (s.row() == null ? " (deleted)" : "");
    }

    /** A journal time to the second, in UTC; blank when there is none. */
    static String time(OffsetDateTime t) {
        return t == null ? "" : t.toInstant().truncatedTo(ChronoUnit.SECONDS).toString();
    }
}
