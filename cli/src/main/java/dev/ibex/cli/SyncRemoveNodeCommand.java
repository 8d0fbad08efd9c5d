package dev.ibex.cli;

import dev.ibex.engine.install.NodeRemover;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "remove-node", mixinStandardHelpOptions = true, description = {
        "Take a node out of a sync while every node takes writes: the other nodes stop replicating to and from it and ledger"
                + " purging stops waiting for it; its capture and Ibex's bookkeeping are removed from it (the ibex schema too when it"
                + " is in no other sync). It keeps its rows and keeps taking writes, which no longer replicate.",
        "Changes the node made that no round has replicated yet stay on it only. A sync keeps at least two nodes.",
        "When a node cannot be cleaned (unreachable), the node still leaves the sync (exit 0) and a warning says what is left"
                + " there and how to drop it: the same command with --cleanup-only when the node is back, or the SQL it prints."})
final class SyncRemoveNodeCommand extends ControlCommand {
    @Parameters(index = "0", paramLabel = "SYNC")
    String sync;
    @Parameters(index = "1", paramLabel = "NODE")
    String node;
    @Option(names = "--cleanup-only", description = "Only clean up after a node removed earlier (exit 1 if something is still left).")
    boolean cleanupOnly;
    @Mixin
    JsonOption json;

    @Override
    public Integer call() {
        try (Session s = new Session(control())) {
            NodeRemover.NodeRemoval r = new NodeRemover(s.control, s.nodes).remove(sync, node, cleanupOnly);
            PrintWriter out = out();
            PrintWriter err = err();
            for (NodeRemover.NodeCleanup n : r.uncleaned()) {
                if (n.left().isEmpty()) {
                    err.println("ibex: warning: node " + n.node() + " not cleaned: " + n.problem());
                    continue;
                }
                err.println("ibex: warning: node " + n.node() + " not cleaned (" + n.problem() + "); left there: " + String.join(", ", n.left())
                        + "; when the node is back run 'ibex sync remove-node " + sync + " " + node + " --cleanup-only', or on node "
                        + n.node() + ": " + String.join("; ", n.sql()));
            }
            err.flush();
            if (json.requested) {
                Map<String, Object> doc = new LinkedHashMap<>();
                doc.put("sync", r.sync());
                doc.put("node", r.node());
                doc.put("membershipRemoved", r.membershipRemoved());
                doc.put("nodesLeft", r.nodesLeft());
                doc.put("cleanups", r.nodes().stream().map(SyncRemoveNodeCommand::document).toList());
                Output.json(out, doc);
            } else {
                out.println(summary(r));
            }
            return cleanupOnly && !r.uncleaned().isEmpty() ? Cli.FAILED : Cli.OK;
        }
    }

    private static String summary(NodeRemover.NodeRemoval r) {
        List<String> cleaned = r.nodes().stream().filter(NodeRemover.NodeCleanup::cleaned).map(NodeRemover.NodeCleanup::node).toList();
        List<String> uncleaned = r.uncleaned().stream().map(NodeRemover.NodeCleanup::node).toList();
        String what = r.membershipRemoved() ? "node " + r.node() + " removed from sync " + r.sync() + " (nodes now " + r.nodesLeft() + "); "
                : "sync " + r.sync() + ", node " + r.node() + ": ";
        return what + "cleaned up on " + (cleaned.isEmpty() ? "no node" : String.join(", ", cleaned))
                + (uncleaned.isEmpty() ? "" : "; not on " + String.join(", ", uncleaned) + " (see the warning)");
    }

    private static Map<String, Object> document(NodeRemover.NodeCleanup n) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("node", n.node());
        m.put("role", n.removedNode() ? "removed" : "remaining");
        m.put("cleaned", n.cleaned());
        m.put("done", n.done());
        m.put("problem", n.problem());
        m.put("left", n.left());
        m.put("sql", n.sql());
        return m;
    }
}
