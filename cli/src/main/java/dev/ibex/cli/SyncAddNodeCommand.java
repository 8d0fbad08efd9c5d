package dev.ibex.cli;

import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.copy.NodeCopier;
import dev.ibex.engine.install.NodeAdder;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "add-node", mixinStandardHelpOptions = true, description = {
        "Add a node (registered with 'ibex node add') to a sync while every node takes writes: it gets a consistent copy of every"
                + " table of the sync from --copy-from, with the ledgers and watermarks, then joins the rounds.",
        "The node's tables are REPLACED by the existing node's: rows it held before are discarded. Writes it takes during its copy"
                + " wait for the copy (its tables are locked; reads go on) and are replicated after it; writes on the other nodes"
                + " never wait. A conflict between a copied row and a concurrent write is decided by the sync's strategy.",
        "Refused (exit 2, nothing changed) when the node is already in the sync, --copy-from is not a healthy member, or a table"
                + " is missing or differs on the node. A failed copy changes nothing on the node and takes it out of the sync (exit 1).",
        "--json prints what was copied."})
final class SyncAddNodeCommand extends ControlCommand {
    @Parameters(index = "0", paramLabel = "SYNC", description = "The sync to add the node to.")
    String sync;
    @Parameters(index = "1", paramLabel = "NODE", description = "The node to add, registered with 'ibex node add'.")
    String node;
    @Option(names = "--copy-from", required = true, paramLabel = "EXISTING", description = "The member of the sync to copy the tables from.")
    String copyFrom;
    @Mixin
    JsonOption json;

    @Override
    public Integer call() {
        try (Session s = new Session(control()); CopyProgress progress = new CopyProgress()) {
            NodeAdder.Added r = new NodeAdder(s.control, s.nodes).add(sync, node, copyFrom, progress);
            progress.close();
            PrintWriter err = err();
            r.warnings().forEach(w -> err.println("ibex: warning: " + w + "; harmless for a node new to the sync"));
            SequencesCommand.warn(s, sync, s.control.syncs().get(sync).tables().stream().map(TableSettings::table).toList(), err);
            PrintWriter out = out();
            double seconds = r.took().toMillis() / 1000.0;
            if (json.requested) {
                Map<String, Object> doc = new LinkedHashMap<>();
                doc.put("sync", r.sync());
                doc.put("node", r.node());
                doc.put("ordinal", r.ordinal());
                doc.put("copiedFrom", r.from());
                doc.put("rows", r.rows());
                doc.put("seconds", seconds);
                doc.put("copySeconds", r.copying().toMillis() / 1000.0);
                doc.put("tables", r.tables().stream().map(SyncAddNodeCommand::document).toList());
                doc.put("warnings", r.warnings());
                Output.json(out, doc);
            } else {
                Output.table(out, List.of("TABLE", "ROWS", "LEDGER ENTRIES"), r.tables().stream()
                        .map(c -> Output.row(c.table().toString(), c.rows(), c.ledgerEntries())).toList());
                out.println(String.format(Locale.ROOT, "node %s added to sync %s: %d table(s), %d rows copied from %s in %.1f s; "
                        + "the engine reconciles it from its next round", node, sync, r.tables().size(), r.rows(), copyFrom, seconds));
            }
            return Cli.OK;
        }
    }

    private static Map<String, Object> document(NodeCopier.Copied c) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("table", c.table().toString());
        m.put("rows", c.rows());
        m.put("ledgerEntries", c.ledgerEntries());
        return m;
    }
}
