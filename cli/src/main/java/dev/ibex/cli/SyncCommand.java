package dev.ibex.cli;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.journal.RoundHistory;
import dev.ibex.engine.round.RoundOutcome;
import dev.ibex.engine.status.SyncWait;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.locks.LockSupport;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "sync", mixinStandardHelpOptions = true, description = "Add, list, change, remove, pause, resume, kick and wait for syncs.",
        subcommands = {SyncCommand.Add.class, SyncCommand.ListSyncs.class, SyncSetCommand.class, SyncCommand.Remove.class, SyncAddNodeCommand.class, SyncRemoveNodeCommand.class,
                SyncCommand.Pause.class, SyncCommand.Resume.class, SyncCommand.Kick.class, SyncCommand.Wait.class})
final class SyncCommand {
    static final class Tables {
        @Option(names = "--tables", split = ",", paramLabel = "TABLE", description = "Tables: TABLE or SCHEMA.TABLE, comma-separated.")
        List<String> tables;
        @Option(names = "--schema", paramLabel = "SCHEMA", description = "Every table of this schema (as on the first node).")
        String schema;
    }

    @Command(name = "add", mixinStandardHelpOptions = true, description = {
            "Create a sync: checks that every table has the same columns, types and key on every node (its primary key, else",
            "a unique index over NOT NULL columns, which the command names),",
            "installs capture on every node and copies the rows from --initial-copy-from NODE (else the tables must be equal)."})
    static final class Add extends ControlCommand {
        @Parameters(paramLabel = "NAME")
        String name;
        @Option(names = "--nodes", required = true, split = ",", paramLabel = "NODE", description = "Two or more nodes, comma-separated.")
        List<String> nodes;
        @ArgGroup(exclusive = true, multiplicity = "1")
        Tables tables;
        @Mixin
        SyncSettingsOptions settings;
        @Option(names = "--initial-copy-from", paramLabel = "NODE", description = "Copy the tables' rows from this node to the others.")
        String copyFrom;
        @Mixin
        JsonOption json;

        @Override
        public Integer call() {
            SyncSettingsOptions.Given given = settings.given();
            try (Session s = new Session(control()); CopyProgress progress = new CopyProgress()) {
                List<NodeId> ids = new ArrayList<>();
                for (int i = 0; i < nodes.size(); i++) {
                    ids.add(new NodeId(s.control.nodes().get(nodes.get(i)).name(), i + 1));
                }
                List<TableRef> refs = tables.schema != null ? s.installer().tablesOfSchema(nodes.get(0), tables.schema)
                        : tables.tables.stream().map(TableRef::parse).toList();
                SyncSettings sync = given.newSync(name, ids, refs.stream().map(t -> new TableSettings(t, null, false, null)).toList());
                List<TableShape> shapes = s.installer().addSync(sync, copyFrom, progress);
                TableKeys.print(out(), json.requested, name, shapes, "sync " + name + " added: " + refs.size() + " table(s) on nodes " + nodes);
                SequencesCommand.warn(s, name, refs, err());
                return Cli.OK;
            }
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List syncs.")
    static final class ListSyncs extends ControlCommand {
        @Mixin
        JsonOption json;

        @Override
        public Integer call() {
            try (ControlStore c = control().open()) {
                List<SyncSettings> syncs = c.syncs().all();
                PrintWriter out = out();
                if (json.requested) {
                    Output.json(out, syncs.stream().map(SyncCommand::document).toList());
                } else {
                    Output.table(out, List.of("SYNC", "STATE", "NODES", "TABLES", "STRATEGY", "INTERVAL", "JOURNAL RETENTION",
                            "MAX CLOCK SKEW", "PURGE INTERVAL", "NODE RETENTION"), syncs.stream()
                            .map(x -> Output.row(x.name(), x.paused() ? "paused" : "active", x.nodes().stream().map(NodeId::name).toList(),
                                    x.tables().size(), x.strategy() + (x.priority().isEmpty() ? "" : " " + x.priority()),
                                    Durations.format(x.interval()), Durations.format(x.journalRetention()),
                                    Durations.format(x.maxClockSkew()), Durations.format(x.purgeInterval()),
                                    Durations.format(x.nodeRetention()))).toList());
                }
                return Cli.OK;
            }
        }
    }

    static Map<String, Object> document(SyncSettings x) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", x.name());
        m.put("state", x.paused() ? "paused" : "active");
        m.put("nodes", x.nodes().stream().map(NodeId::name).toList());
        m.put("tables", x.tables().stream().map(t -> Map.of("table", t.table().toString(), "strategy", x.strategyFor(t),
                "paused", t.paused())).toList());
        m.put("strategy", x.strategy());
        m.put("priority", x.priority());
        m.put("intervalMillis", x.interval().toMillis());
        m.put("journalRetentionMillis", x.journalRetention().toMillis());
        m.put("maxClockSkewMillis", x.maxClockSkew().toMillis());
        m.put("purgeIntervalMillis", x.purgeInterval().toMillis());
        m.put("nodeRetentionMillis", x.nodeRetention().toMillis());
        m.put("resyncNeeded", x.resyncNeeded());
        return m;
    }

    @Command(name = "remove", mixinStandardHelpOptions = true, description = "Remove a sync and its capture on every reachable node.")
    static final class Remove extends ControlCommand {
        @Parameters(paramLabel = "NAME")
        String name;

        @Override
        public Integer call() {
            try (Session s = new Session(control())) {
                List<String> warnings = s.installer().removeSync(name);
                warnings.forEach(w -> err().println("ibex: warning: " + w));
                out().println("sync " + name + " removed");
                return Cli.OK;
            }
        }
    }

    /** Pauses or resumes a sync: the same argument, one flag apart. */
    abstract static class SetPaused extends ControlCommand {
        @Parameters(paramLabel = "NAME")
        String name;

        abstract boolean paused();

        @Override
        public Integer call() {
            try (ControlStore c = control().open()) {
                c.syncs().setPaused(name, paused());
                if (!paused()) {
                    c.rounds().kick(name);
                }
                out().println("sync " + name + (paused() ? " paused" : " resumed"));
                return Cli.OK;
            }
        }
    }

    @Command(name = "pause", mixinStandardHelpOptions = true, description = "Stop running rounds of a sync (capture goes on).")
    static final class Pause extends SetPaused {
        @Override
        boolean paused() {
            return true;
        }
    }

    @Command(name = "resume", mixinStandardHelpOptions = true, description = "Resume a paused sync.")
    static final class Resume extends SetPaused {
        @Override
        boolean paused() {
            return false;
        }
    }

    @Command(name = "kick", mixinStandardHelpOptions = true,
            description = "Ask the running engine for a round now; --wait waits for it (exit 1 if it had errors or none ran).")
    static final class Kick extends ControlCommand {
        @Parameters(paramLabel = "NAME")
        String name;
        @Option(names = "--wait", description = "Wait for the round to finish.")
        boolean await;
        @Option(names = "--timeout", defaultValue = "60s", description = "How long --wait waits (default 60s).")
        String timeout;

        @Override
        public Integer call() {
            Duration limit = Durations.parse("--timeout", timeout);
            try (ControlStore c = control().open()) {
                RoundHistory h = new RoundHistory(c.dsl());
                long before = h.lastSummary(name).map(RoundHistory.RoundSummary::id).orElse(0L);
                c.rounds().kick(name);
                PrintWriter out = out();
                if (!await) {
                    out.println("sync " + name + " kicked");
                    return Cli.OK;
                }
                Instant deadline = Instant.now().plus(limit);
                while (Instant.now().isBefore(deadline)) {
                    Optional<RoundHistory.RoundSummary> r = h.lastSummary(name).filter(x -> x.id() > before);
                    if (r.isPresent()) {
                        RoundHistory.RoundSummary x = r.get();
                        out.println("round " + x.outcome() + ": " + x.keysDecided() + " keys decided, " + x.rowsApplied()
                                + " rows applied, " + x.conflicts() + " conflicts" + (x.error() == null ? "" : "; " + x.error()));
                        return x.outcome() == RoundOutcome.OK ? Cli.OK : Cli.FAILED;
                    }
                    LockSupport.parkNanos(Duration.ofMillis(100).toNanos());
                }
                throw Cli.failed("no round of sync " + name + " finished within " + timeout + "; is 'ibex start' running?");
            }
        }
    }

    @Command(name = "wait", mixinStandardHelpOptions = true, description = {
            "Wait until everything committed so far on every active node of the sync has been applied on --nodes other nodes"
                    + " (for deploy scripts and maintenance; the running engine does the work, asked for rounds by this command).",
            "Exit 0 when reached; 1 on timeout, listing for each node the nodes that do not have its changes yet;"
                    + " 2 on bad input. Applications wait per transaction with the SQL function ibex.wait_replicated (see README).",
            "--json prints whether it was reached, and each node's state."})
    static final class Wait extends ControlCommand {
        @Parameters(paramLabel = "SYNC")
        String name;
        @Option(names = "--nodes", paramLabel = "N",
                description = "How many other nodes must have each node's changes (default: all other active nodes).")
        Integer nodes;
        @Option(names = "--timeout", defaultValue = "60s", paramLabel = "DURATION", description = "How long to wait (default 60s).")
        String timeout;
        @Mixin
        JsonOption json;

        @Override
        public Integer call() {
            Duration limit = Durations.positive("--timeout", timeout, "60s");
            try (Session s = new Session(control())) {
                SyncSettings sync = s.control.syncs().get(name);
                int others = sync.activeNodes().size() - 1;
                if (others < 1) {
                    throw new UsageException("sync " + name + " has fewer than two active nodes: nothing to wait for");
                }
                int needed = nodes == null ? others : nodes;
                if (needed < 1 || needed > others) {
                    throw new UsageException("--nodes must be between 1 and " + others + " (the other active nodes of sync "
                            + name + "); got " + needed);
                }
                PrintWriter err = err();
                SyncWait.Result r = SyncWait.await(sync, s.nodes, needed, limit, () -> s.control.rounds().kick(name), Duration.ofSeconds(5),
                        states -> {
                            err.println("ibex: waiting: " + String.join("; ", states.stream().filter(w -> !w.reached(needed))
                                    .map(Wait::describe).toList()));
                            err.flush();
                        });
                PrintWriter out = out();
                if (json.requested) {
                    Map<String, Object> doc = new LinkedHashMap<>();
                    doc.put("sync", name);
                    doc.put("reached", r.reached());
                    doc.put("nodesNeeded", needed);
                    doc.put("seconds", r.took().toMillis() / 1000.0);
                    doc.put("nodes", r.nodes());
                    Output.json(out, doc);
                    return r.reached() ? Cli.OK : Cli.FAILED;
                }
                String took = String.format(java.util.Locale.ROOT, "%.2f s", r.took().toMillis() / 1000.0);
                if (r.reached()) {
                    out.println("sync " + name + ": every node's changes so far are applied on " + (needed == others ? "every other node"
                            : needed + " other node(s)") + " (" + took + ")");
                    return Cli.OK;
                }
                r.nodes().stream().filter(w -> !w.reached(needed)).forEach(w -> out.println(describe(w)));
                out.flush();
                boolean none = r.nodes().stream().allMatch(w -> w.have().isEmpty());
                throw Cli.failed("sync " + name + ": not every node's changes reached " + needed + " other node(s) within " + timeout
                        + "; 'ibex status " + name + "' shows why" + (none ? " (no node's changes reached any other: is 'ibex start' running?)" : ""));
            }
        }

        private static String describe(SyncWait.NodeWait w) {
            if (w.error() != null) {
                return "node " + w.node() + ": " + w.error();
            }
            return "node " + w.node() + ": not yet on " + String.join(", ", w.lacking())
                    + (w.have().isEmpty() ? "" : " (applied on " + String.join(", ", w.have()) + ")");
        }
    }

    static List<TableRef> refs(String[] tables) {
        return Arrays.stream(tables).map(TableRef::parse).toList();
    }
}
