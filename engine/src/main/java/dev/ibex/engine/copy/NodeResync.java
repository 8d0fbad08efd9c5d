package dev.ibex.engine.copy;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.RoundLocks;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.db.Redactor;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Brings a node back into its syncs by copying every table, with its ledger and watermarks, from a
 * healthy node: what a node needs after it stayed away past the node retention, or after its
 * database was rebuilt. Changes the node made while it was left out are discarded: its rows become
 * the healthy node's.
 *
 * <p>Per sync, holding the sync's copy lock (rounds start no ledger purge meanwhile): the node is
 * marked as needing a resync (rounds leave it out from their next start), the sync's round lock is
 * taken once to wait for a round that started earlier, the node joins the purges still unfinished,
 * and {@link NodeCopier} copies every table in one transaction on the node, from one snapshot of
 * the healthy node. The other nodes' watermarks for the node restart at its current transaction
 * horizon (its database may be new). Then the mark is cleared and the next round reconciles
 * whatever changed meanwhile.
 */
public final class NodeResync {
    private static final Duration ROUND_WAIT = Duration.ofMinutes(2);

    private final ControlStore control;
    private final NodeDirectory directory;

    public NodeResync(ControlStore control, NodeDirectory directory) {
        this.control = control;
        this.directory = directory;
    }

    /**
     * Resyncs {@code node} in {@code syncName} (every sync it is in when null) from {@code from}
     * (when null: the first other node of the sync that does not need a resync itself and answers).
     */
    public List<NodeCopier.Copied> resync(String node, String syncName, String from, ProgressListener progress) {
        control.nodes().get(node);
        List<SyncSettings> syncs = syncName != null ? List.of(control.syncs().get(syncName))
                : control.syncs().all().stream().filter(s -> s.node(node).isPresent()).toList();
        if (syncs.isEmpty()) {
            throw new UsageException("node " + node + " is in no sync; nothing to resync");
        }
        List<NodeCopier.Copied> out = new ArrayList<>();
        for (SyncSettings s : syncs) {
            NodeId target = s.node(node).orElseThrow(() -> new UsageException("node " + node + " is not in sync " + s.name()
                    + " (its nodes: " + s.nodes().stream().map(NodeId::name).toList() + ")"));
            String source = source(s, node, from);
            try (RoundLocks.RoundLock copying = control.rounds().copyLock(s.name())) {
                control.syncs().markResyncNeeded(s.name(), node, "resync from " + source + " in progress");
                try (RoundLocks.RoundLock waited = control.rounds().lock(s.name(), ROUND_WAIT)) {
                    // a round that started before the mark has finished; later ones leave the node out and purge nothing
                }
                try {
                    control.syncs().joinPendingPurges(s.name(), node);
                    NodeCopier.Copy copy = NodeCopier.copy(directory, s, target, source, progress);
                    if (!copy.unrestarted().isEmpty()) {
                        throw new IbexException(String.join("; ", copy.unrestarted()));
                    }
                    out.addAll(copy.tables());
                } catch (RuntimeException e) {
                    control.syncs().setResyncReason(s.name(), node, "a resync from " + source + " failed: "
                            + Redactor.firstLine(e.getMessage()) + "; run 'ibex node resync " + node + "' again");
                    throw e;
                }
                control.syncs().clearResyncNeeded(s.name(), node);
            }
            control.rounds().kick(s.name());
        }
        return out;
    }

    private String source(SyncSettings s, String node, String from) {
        if (from != null) {
            if (s.node(from).isEmpty() || from.equals(node)) {
                throw new UsageException("--from " + from + " must be another node of sync " + s.name() + " "
                        + s.nodes().stream().map(NodeId::name).toList());
            }
            if (s.resyncNeeded().containsKey(from)) {
                throw new UsageException("--from " + from + " needs a resync itself; copy from a healthy node");
            }
            return from;
        }
        List<String> tried = new ArrayList<>();
        for (NodeId n : s.activeNodes()) {
            if (n.name().equals(node)) {
                continue;
            }
            try (Connection c = directory.pool(n.name()).getConnection()) {
                return n.name();
            } catch (SQLException | RuntimeException e) {
                tried.add(n.name());
            }
        }
        throw new UsageException("sync " + s.name() + ": no healthy node to copy from answers (tried " + tried + "); check them with "
                + "'ibex node check'");
    }
}
