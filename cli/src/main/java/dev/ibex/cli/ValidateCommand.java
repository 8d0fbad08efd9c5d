package dev.ibex.cli;

import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.status.TableValidator;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "validate", mixinStandardHelpOptions = true, description = {
        "Compare a sync's tables across all its nodes, row by row (md5 of each row, streamed in key order);",
        "list the keys that differ. Exit 0 when every table is identical on every node, 1 when any differs."})
final class ValidateCommand implements Callable<Integer> {
    @Mixin
    ControlOptions control;
    @Spec
    CommandSpec spec;
    @Parameters(paramLabel = "SYNC")
    String sync;
    @Option(names = "--table", paramLabel = "TABLE", description = "Only this table.")
    String table;
    @Option(names = "--max-keys", defaultValue = "20", description = "Differing keys listed per table (default 20).")
    int maxKeys;
    @Option(names = "--json", description = "Print JSON.")
    boolean json;

    @Override
    public Integer call() {
        try (Session s = new Session(control)) {
            var settings = s.control.syncs().get(sync);
            TableRef only = table == null ? null : TableRef.parse(table);
            if (only != null && settings.tables().stream().noneMatch(t -> t.table().equals(only))) {
                throw new dev.ibex.engine.UsageException("table " + only + " is not in sync " + sync);
            }
            List<TableValidator.TableReport> reports = TableValidator.validate(settings, only, s.nodes, maxKeys);
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                Output.json(out, reports);
            } else {
                print(out, reports);
            }
            return reports.stream().allMatch(r -> r.differingKeys() == 0) ? Cli.OK : Cli.FAILED;
        }
    }

    private static void print(PrintWriter out, List<TableValidator.TableReport> reports) {
        List<List<String>> rows = new ArrayList<>();
        for (TableValidator.TableReport r : reports) {
            rows.add(Output.row(r.table(), r.rows(), r.differingKeys() == 0 ? "identical" : r.differingKeys() + " keys differ"));
        }
        Output.table(out, List.of("TABLE", "ROWS PER NODE", "RESULT"), rows);
        for (TableValidator.TableReport r : reports) {
            for (TableValidator.Difference d : r.differences()) {
                List<String> where = new ArrayList<>();
                d.rowHash().forEach((n, h) -> where.add(n + "=" + (h == null ? "missing" : h.substring(0, 8))));
                out.println("  " + r.table() + " key " + d.key() + ": " + String.join(" ", where));
            }
        }
        out.flush();
    }
}
