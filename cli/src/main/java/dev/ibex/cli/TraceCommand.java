package dev.ibex.cli;

import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.journal.ConflictEntry;
import dev.ibex.engine.status.RowTrace;
import dev.ibex.engine.status.RowTracer;
import dev.ibex.engine.status.TraceExplainer;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code ibex trace SYNC TABLE KEY}: the story of one row on every node of its sync. */
@Command(name = "trace", mixinStandardHelpOptions = true, description = {
        "The story of one row: on every node of the sync its row, its version (a counter per node), the node and time of the",
        "change that made it, and what is pending there (changes not folded yet, its change not yet applied on other nodes);",
        "the conflict journal's entries for the key; the sync's last round; and why the nodes hold what they hold.",
        "Reads only; an unreachable node is shown with its error."})
final class TraceCommand implements Callable<Integer> {
    @Mixin
    ControlOptions control;
    @Spec
    CommandSpec spec;
    @Parameters(index = "0", paramLabel = "SYNC")
    String sync;
    @Parameters(index = "1", paramLabel = "TABLE", description = "TABLE or SCHEMA.TABLE, as in 'ibex sync add'.")
    String table;
    @Parameters(index = "2", paramLabel = "KEY", description = {"The row's key: its value; for a composite key 'v1,v2' in key order,",
            "or a JSON object of every key column, e.g. '{\"order_id\": 7, \"sku\": \"A,1\"}'."})
    String key;
    @Option(names = "--json", description = "Print the trace as a JSON document.")
    boolean json;

    @Override
    public Integer call() {
        try (ControlStore c = control.open()) {
            RowTrace trace = new RowTracer(c).trace(sync, table, key);
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                Output.json(out, trace);
            } else {
                print(out, trace);
            }
            return Cli.OK;
        }
    }

    private static void print(PrintWriter out, RowTrace t) {
        out.println("row " + pairs(t.key()) + " of " + t.table() + " in sync " + t.sync() + " (strategy " + t.strategy() + ")");
        Output.table(out, List.of("NODE", "STATE", "VERSION", "WRITTEN ON", "CHANGED AT", "PENDING", "ROW"),
                t.nodes().stream().map(n -> Output.row(n.node(), n.state(), version(n), n.ledger() == null ? "" : n.ledger().origin(),
                        n.ledger() == null ? "" : n.ledger().changedAt(), pending(n),
                        n.known() ? (n.row() == null ? "" : pairs(n.row())) : n.reachable() ? "(cannot read it: see why)" : "(unreachable: see why)"))
                        .toList());
        if (t.conflicts().isEmpty()) {
            out.println("journal: no conflict on this key");
        } else {
            out.println("journal:");
            t.conflicts().forEach(e -> out.println("  " + entry(e)));
        }
        RowTrace.LastRound r = t.lastRound();
        out.println("rounds: " + t.rounds() + (r == null ? "; no round has run yet"
                : "; the last one started " + r.startedAt() + ": " + r.outcome() + ", " + r.keysDecided() + " key(s), "
                        + r.conflicts() + " conflict(s)" + (r.error() == null ? "" : ", error: " + r.error())));
        out.println("why:");
        t.why().forEach(w -> out.println("  - " + w));
        out.flush();
    }

    /** {@code {a:3, b:1}}; {@code -} for no ledger entry, nothing for a node that could not be read. */
    private static String version(RowTrace.NodeTrace n) {
        return n.ledger() != null ? TraceExplainer.version(n.ledger().version()) : n.known() ? "-" : "";
    }

    /** {@code 1 unfolded; not yet on b}, or {@code -}. */
    private static String pending(RowTrace.NodeTrace n) {
        List<String> parts = new ArrayList<>();
        if (n.pending().unfolded() > 0) {
            parts.add(n.pending().unfolded() + " unfolded");
        }
        if (!n.pending().notYetOn().isEmpty()) {
            parts.add("not yet on " + String.join(",", n.pending().notYetOn()));
        }
        return parts.isEmpty() ? (n.known() ? "-" : "") : String.join("; ", parts);
    }

    /** {@code #12 2026-12-07T05:01:02Z decided by latest, winner b; sides: b (id=1, v=x) v[0, 1] @ T; a (deleted) v[1] @ T}. */
    private static String entry(ConflictEntry e) {
        return "#" + e.id() + " " + e.decidedAt().toInstant() + " " + e.status() + " by " + e.strategy() + ", winner "
                + (e.winner() == null ? "-" : e.winner()) + (e.resolvedBy() == null ? "" : " (" + e.resolvedBy() + ")") + "; sides: "
                + e.sides().stream().map(s -> s.node() + (s.origin().equals(s.node()) ? "" : " (from " + s.origin() + ")") + " "
                        + (s.row() == null ? "(deleted)" : "(" + pairs(s.row()) + ")") + " v" + s.version() + " @ " + s.changedAt())
                .collect(Collectors.joining("; "));
    }

    private static String pairs(Map<String, String> row) {
        return row.entrySet().stream().map(e -> e.getKey() + "=" + (e.getValue() == null ? ConflictShowCommand.NULL : e.getValue()))
                .collect(Collectors.joining(", "));
    }
}
