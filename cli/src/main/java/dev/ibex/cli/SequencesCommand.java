package dev.ibex.cli;

import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.install.SequenceInterleaver;
import dev.ibex.engine.install.SequenceInterleaver.Change;
import dev.ibex.engine.install.SequenceInterleaver.Report;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "sequences", mixinStandardHelpOptions = true, description = "Key sequences of a sync's tables: interleave.",
        subcommands = {SequencesCommand.Interleave.class})
final class SequencesCommand {

    /**
     * After {@code sync add} or {@code table add}: one warning per added table whose key takes its
     * values from a sequence, since independent masters hand out the same values.
     */
    static void warn(Session s, String sync, List<TableRef> tables, PrintWriter err) {
        new SequenceInterleaver(s.control, s.nodes).warnings(sync, tables).forEach(w -> err.println("ibex: warning: " + w));
        err.flush();
    }

    @Command(name = "interleave", mixinStandardHelpOptions = true, description = {
            "Set every sequence that feeds a key of the sync's tables (serial, identity, nextval default) on every node to",
            "its own residue class: node ordinal k draws k, k+STEP, k+2*STEP, ... above every value on any node.",
            "Idempotent; run it again after adding a node."})
    static final class Interleave extends ControlCommand {
        @Parameters(paramLabel = "SYNC")
        String sync;
        @Option(names = "--step", paramLabel = "N", description = "Increment of every sequence, at least the node count "
                + "(default: 100, or the next power of ten at or above ten times the node count).")
        Long step;
        @Mixin
        JsonOption json;

        @Override
        public Integer call() {
            try (Session s = new Session(control())) {
                Report r = new SequenceInterleaver(s.control, s.nodes).interleave(sync, step);
                if (json.requested) {
                    Map<String, Object> doc = new LinkedHashMap<>();
                    doc.put("sync", r.sync());
                    doc.put("step", r.step());
                    doc.put("sequences", r.changes().stream().map(Interleave::document).toList());
                    Output.json(out(), doc);
                } else if (r.changes().isEmpty()) {
                    out().println("no key of sync " + sync + " takes its values from a sequence; nothing to do");
                } else {
                    Output.table(out(), List.of("NODE", "SEQUENCE", "KEYS", "OLD INCREMENT", "OLD NEXT", "NEW INCREMENT", "NEW NEXT", "RESULT"),
                            r.changes().stream().map(c -> Output.row(c.node(), c.sequence(), String.join(",", c.keys()), c.oldIncrement(),
                                    c.oldNext(), c.newIncrement(), c.newNext(), result(c))).toList());
                    out().println(r.changedAny() ? "sequences of sync " + sync + " interleaved with step " + r.step()
                            : "sequences of sync " + sync + " already interleaved with step " + r.step() + "; nothing changed");
                }
                return Cli.OK;
            }
        }

        private static String result(Change c) {
            return c.changed() ? "interleaved" : "already interleaved";
        }

        private static Map<String, Object> document(Change c) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("node", c.node());
            m.put("sequence", c.sequence());
            m.put("keys", c.keys());
            m.put("oldIncrement", c.oldIncrement());
            m.put("oldNext", c.oldNext());
            m.put("newIncrement", c.newIncrement());
            m.put("newNext", c.newNext());
            m.put("result", result(c));
            return m;
        }
    }
}
