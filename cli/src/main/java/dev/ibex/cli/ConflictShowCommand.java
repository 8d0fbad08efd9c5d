package dev.ibex.cli;

import dev.ibex.engine.UsageException;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.journal.ConflictEntry;
import dev.ibex.engine.journal.ConflictJournal;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code ibex conflicts show ID}: one journal entry with its sides side by side, one row per
 * column, the columns whose values differ between sides marked.
 */
@Command(name = "show", mixinStandardHelpOptions = true, description = {
        "One conflict with every side's row side by side (one line per column; DIFFERS marks the columns the sides disagree on),",
        "its status, strategy, winner and who resolved it. --json prints the entry with 'differingColumns'."})
final class ConflictShowCommand implements Callable<Integer> {
    static final String DELETED = "(deleted)";
    static final String NULL = "(null)";

    @Mixin
    ControlOptions control;
    @Spec
    CommandSpec spec;
    @Parameters(paramLabel = "ID", description = "The conflict's id (the ID column of 'ibex conflicts').")
    long id;
    @Option(names = "--json", description = "Print JSON.")
    boolean json;

    @Override
    public Integer call() {
        try (ControlStore c = control.open()) {
            ConflictEntry e = new ConflictJournal(c.dsl()).entry(id)
                    .orElseThrow(() -> new UsageException("no conflict " + id + " in the journal; see 'ibex conflicts'"));
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                Map<String, Object> doc = new LinkedHashMap<>(Output.document(e));
                doc.put("differingColumns", differing(e));
                Output.json(out, doc);
            } else {
                print(out, e);
            }
            return Cli.OK;
        }
    }

    private static void print(PrintWriter out, ConflictEntry e) {
        out.println("conflict " + e.id() + ": sync " + e.sync() + ", table " + ConflictsCommand.table(e) + ", key "
                + String.join(",", e.key()));
        List<ConflictEntry.SideEntry> sides = ConflictsCommand.sides(e);
        List<String> headers = new ArrayList<>();
        headers.add("COLUMN");
        sides.forEach(s -> headers.add(ConflictsCommand.label(s, true)));
        headers.add("DIFFERS");
        List<String> differing = differing(e);
        List<List<String>> rows = new ArrayList<>();
        for (String column : columns(e)) {
            List<String> row = new ArrayList<>();
            row.add(column);
            sides.forEach(s -> row.add(s.row() == null ? DELETED : s.row().get(column) == null ? NULL : s.row().get(column)));
            row.add(differing.contains(column) ? "*" : "");
            rows.add(row);
        }
        if (rows.isEmpty()) {
            List<String> row = new ArrayList<>(List.of("(row)"));
            sides.forEach(s -> row.add(DELETED));
            row.add("");
            rows.add(row);
        }
        Output.table(out, headers, rows);
        out.println("status:      " + e.status() + hint(e));
        out.println("strategy:    " + e.strategy());
        out.println("winner:      " + (e.winner() == null ? "-" : e.winner()));
        out.println("decided at:  " + ConflictsCommand.time(e.decidedAt()));
        if (e.resolvedBy() != null) {
            out.println("resolved by: " + e.resolvedBy() + " at " + ConflictsCommand.time(e.resolvedAt()));
        }
        out.flush();
    }

    private static String hint(ConflictEntry e) {
        return switch (e.status()) {
            case OPEN -> " (held for an operator: 'ibex conflicts resolve " + e.id() + " --take NODE' or '--row JSON')";
            case RESOLVED -> " (the next round of sync " + e.sync() + " applies the choice)";
            default -> "";
        };
    }

    /** The columns of the table, in the order of the first side that has a row. */
    static List<String> columns(ConflictEntry e) {
        Set<String> columns = new LinkedHashSet<>();
        e.sides().stream().filter(s -> s.row() != null).forEach(s -> columns.addAll(s.row().keySet()));
        return List.copyOf(columns);
    }

    /** The columns whose value (or presence: a deleted side differs in every column) is not the same on every side. */
    static List<String> differing(ConflictEntry e) {
        return columns(e).stream().filter(c -> e.sides().stream().map(s -> cell(s.row(), c)).distinct().count() > 1).toList();
    }

    /** What a side holds in a column, comparable across sides: deleted, absent, NULL and every value differ. */
    private static List<Object> cell(Map<String, String> row, String column) {
        if (row == null) {
            return List.of(DELETED);
        }
        return row.containsKey(column) ? Arrays.asList("value", row.get(column)) : List.of("absent");
    }
}
