package dev.ibex.cli;

import dev.ibex.engine.UsageException;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.install.SchemaChanger;
import dev.ibex.engine.install.SchemaChanger.SchemaChangeReport;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "schema", mixinStandardHelpOptions = true, description = "Schema changes of a sync's nodes: apply.",
        subcommands = {SchemaCommand.Apply.class})
final class SchemaCommand {

    @Command(name = "apply", mixinStandardHelpOptions = true, description = {
            "Roll one DDL change out to every node of a sync while applications write.",
            "%nA dry run on one node classifies it. The sync's tables whose columns change stop replicating at a round boundary "
                    + "(its other tables go on); the script runs in one transaction per node, with capture reinstalled for the new "
                    + "shape, and commits only once every node has run it (a node that refuses rolls every node back: nothing "
                    + "changes anywhere); then the tables resume. A table the script creates (it needs a primary key, or a unique "
                    + "index over NOT NULL columns) joins the sync, empty everywhere.",
            "%nChanges captured before the change and not yet replicated replicate after it, read from the rows as they are "
                    + "then: in the new shape (renamed or converted values; a dropped column's values are gone on every node).",
            "%nRefused, with the way to do it instead: changing, renaming or dropping a key column; dropping or renaming a table "
                    + "of the sync; changing rows; adding a column whose default is not immutable (now(), random(), nextval..., "
                    + "identity); statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY). Every node must be "
                    + "reachable.",
            "%nWhen every node has max_prepared_transactions > 0 the nodes commit with two-phase commit; a change left prepared "
                    + "on a node is committed (or rolled back) by the next 'ibex schema apply' of the sync, or by --resolve alone.",
            "%nExamples:",
            "  ibex schema apply shop --sql \"alter table shop.customer add column vip bool\"",
            "  ibex schema apply shop --file migrations/042_orders.sql --json"})
    static final class Apply extends ControlCommand {
        @Parameters(paramLabel = "SYNC", description = "The sync whose nodes take the change.")
        String sync;
        @Option(names = "--sql", paramLabel = "SQL", description = "The DDL script (one or more statements).")
        String sql;
        @Option(names = "--file", paramLabel = "FILE", description = "A file holding the DDL script (UTF-8).")
        Path file;
        @Option(names = "--lock-timeout", paramLabel = "DURATION", defaultValue = "5s", description = "How long the change may wait "
                + "for a table lock on a node (lock_timeout) before it is rolled back everywhere and tried again, up to "
                + SchemaChanger.ATTEMPTS + " times (default: ${DEFAULT-VALUE}).")
        String lockTimeout;
        @Option(names = "--resolve", description = "Only resolve what an earlier two-phase change left prepared on the nodes, "
                + "and resume its tables.")
        boolean resolve;
        @Mixin
        JsonOption json;

        @Override
        public Integer call() {
            if (resolve) {
                return resolveOnly();
            }
            String script = script();
            Duration timeout = Durations.positive("--lock-timeout", lockTimeout, "5s");
            try (Session s = new Session(control())) {
                SchemaChangeReport r = new SchemaChanger(s.control, s.nodes, Clock.systemUTC()).apply(sync, script, timeout, line -> {
                    err().println(line);
                    err().flush();
                });
                if (!r.created().isEmpty()) {
                    SequencesCommand.warn(s, sync, r.created(), err());
                }
                if (json.requested) {
                    Output.json(out(), document(r));
                } else {
                    Output.table(out(), List.of("NODE", "RAN IN"), r.nodes().stream().map(n -> Output.row(n.node(), n.millis() + " ms")).toList());
                    out().println("schema change applied to sync " + sync + " on " + r.nodes().size() + " nodes"
                            + (r.twoPhase() ? " (two-phase commit)" : "")
                            + (r.changed().isEmpty() ? "" : "; " + names(r.changed()) + " paused for " + r.pausedMillis() + " ms")
                            + (r.created().isEmpty() ? "" : "; " + names(r.created()) + " joined the sync"));
                }
                return Cli.OK;
            }
        }

        private int resolveOnly() {
            if (sql != null || file != null) {
                throw new UsageException("--resolve takes no --sql or --file: it only finishes an earlier change");
            }
            try (Session s = new Session(control())) {
                int n = new SchemaChanger(s.control, s.nodes, Clock.systemUTC()).resolve(sync, line -> {
                    err().println(line);
                    err().flush();
                });
                if (json.requested) {
                    Output.json(out(), Map.of("sync", sync, "resolved", n));
                } else {
                    out().println(n == 0 ? "sync " + sync + " has no schema change left prepared; nothing to do"
                            : n + " schema change(s) of sync " + sync + " resolved");
                }
                return Cli.OK;
            }
        }

        private String script() {
            if ((sql == null) == (file == null)) {
                throw new UsageException("give the DDL with exactly one of --sql SQL or --file FILE");
            }
            if (sql != null) {
                return sql;
            }
            try {
                return Files.readString(file, StandardCharsets.UTF_8);
            } catch (IOException | RuntimeException e) {
                throw new UsageException("--file " + file + " cannot be read (" + e.getClass().getSimpleName()
                        + "); give a readable file of DDL", e);
            }
        }

        private static String names(List<TableRef> tables) {
            return String.join(", ", tables.stream().map(TableRef::toString).toList());
        }

        private static Map<String, Object> document(SchemaChangeReport r) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("sync", r.sync());
            doc.put("changedTables", r.changed().stream().map(TableRef::toString).toList());
            doc.put("createdTables", r.created().stream().map(TableRef::toString).toList());
            doc.put("pausedMillis", r.pausedMillis());
            doc.put("attempts", r.attempts());
            doc.put("commit", r.twoPhase() ? "two-phase" : "one by one");
            doc.put("nodes", r.nodes().stream().map(n -> Map.of("node", n.node(), "millis", n.millis())).toList());
            return doc;
        }
    }
}
