package dev.ibex.engine.install;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.capture.CaptureInstaller;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.RoundLocks;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.db.SqlErrors;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Takes a node out of a sync while every node takes writes. The membership changes first, in the
 * control database under the sync's round lock, so that no round still including the node is in
 * flight and every later round leaves it out (and ledger purging stops waiting for it); the other
 * members keep their version-vector ordinals. Then, best effort, each remaining node forgets what
 * it kept for the node (watermarks of its changes, its row in {@code ibex.applied}) and the node
 * itself loses Ibex's capture and bookkeeping for the sync (the whole {@code ibex} schema when it
 * is in no other sync); it keeps its rows and its writes. What could not be cleaned is reported
 * with the SQL that cleans it, and a {@code cleanupOnly} run does the cleaning again.
 */
public final class NodeRemover {
    private static final Duration ROUND_WAIT = Duration.ofMinutes(2);
    /** The node's tables with a row per sync besides capture's own. */
    private static final List<String> BOOKKEEPING = List.of("ibex.applied", "ibex.sync_fence");

    /** What was done on one node, and when it could not all be done: why, what is left there and the SQL that drops it. */
    public record NodeCleanup(String node, boolean removedNode, List<String> done, String problem, List<String> left, List<String> sql) {
        public boolean cleaned() {
            return problem == null;
        }
    }

    /** The outcome: whether this call took the node out of the sync (false for a cleanup only), and each node's cleanup. */
    public record NodeRemoval(String sync, String node, boolean membershipRemoved, List<String> nodesLeft, List<NodeCleanup> nodes) {
        public List<NodeCleanup> uncleaned() {
            return nodes.stream().filter(n -> !n.cleaned()).toList();
        }
    }

    private final ControlStore control;
    private final NodeDirectory directory;

    public NodeRemover(ControlStore control, NodeDirectory directory) {
        this.control = control;
        this.directory = directory;
    }

    /**
     * Removes {@code node} from sync {@code syncName} and cleans up after it; with {@code cleanupOnly},
     * only cleans up after a node removed earlier. Bad input changes nothing.
     */
    public NodeRemoval remove(String syncName, String node, boolean cleanupOnly) {
        SyncSettings sync = control.syncs().get(syncName);
        control.nodes().get(node);
        List<String> names = sync.nodes().stream().map(NodeId::name).toList();
        SyncSettings after = sync;
        if (cleanupOnly) {
            if (sync.node(node).isPresent()) {
                throw new UsageException("node " + node + " is still in sync " + syncName + "; --cleanup-only cleans up after a node "
                        + "removed earlier: run 'ibex sync remove-node " + syncName + " " + node + "' without it");
            }
        } else {
            if (sync.node(node).isEmpty()) {
                throw new UsageException("node " + node + " is not in sync " + syncName + " (its nodes: " + names
                        + "); after an earlier removal left something on it, add --cleanup-only");
            }
            if (sync.nodes().size() <= 2) {
                throw new UsageException("sync " + syncName + " has two nodes, the fewest a sync needs: to stop replicating to " + node
                        + ", remove the sync with 'ibex sync remove " + syncName + "'");
            }
            after = without(sync, node);
            try (RoundLocks.RoundLock held = control.rounds().lock(syncName, ROUND_WAIT)) {
                control.syncs().removeNode(after, node);
            }
        }
        List<NodeCleanup> out = new ArrayList<>();
        Map<String, String> members = new HashMap<>();
        for (NodeId n : after.nodes()) {
            out.add(cleanRemaining(after, n.name(), node, members));
        }
        out.add(0, cleanRemoved(after, node, members));
        if (!cleanupOnly) {
            control.rounds().kick(syncName);
        }
        return new NodeRemoval(syncName, node, !cleanupOnly, after.nodes().stream().map(NodeId::name).toList(), out);
    }

    /** The sync without the node: the others keep their ordinals; the priority order loses it (refused when nothing would be left of it). */
    private static SyncSettings without(SyncSettings s, String node) {
        List<String> priority = s.priority().stream().filter(p -> !p.equals(node)).toList();
        try {
            return new SyncSettings(s.name(), s.nodes().stream().filter(n -> !n.name().equals(node)).toList(), s.tables(), s.strategy(),
                    priority, s.interval(), s.paused(), s.journalRetention(), s.maxClockSkew(), s.purgeInterval(), s.nodeRetention(),
                    s.resyncNeeded().entrySet().stream().filter(e -> !e.getKey().equals(node))
                            .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue)));
        } catch (UsageException e) {
            throw new UsageException("node " + node + " cannot leave sync " + s.name() + ": " + e.getMessage()
                    + "; change the sync first with 'ibex sync set " + s.name() + "'", e);
        }
    }

    /** On a remaining node: the watermarks of the removed node's changes and its row in {@code ibex.applied}. */
    private NodeCleanup cleanRemaining(SyncSettings sync, String node, String removed, Map<String, String> databases) {
        String watermarks = "delete from ibex.watermark where source_node = " + literal(removed)
                + " and ledger_name in (select ledger_name from ibex.capture where sync_name = " + literal(sync.name()) + ")";
        String applied = "delete from ibex.applied where sync_name = " + literal(sync.name()) + " and target_node = " + literal(removed);
        try (Connection c = directory.pool(node).getConnection()) {
            List<String> done = new ArrayList<>();
            databases.put(database(c), node);
            if (ibexSchema(c)) {
                done.add(run(c, watermarks) + " watermark(s) of node " + removed + " deleted");
                done.add(run(c, applied) + " ibex.applied row(s) for node " + removed + " deleted");
            }
            return new NodeCleanup(node, false, done, null, List.of(), List.of());
        } catch (SQLException | IbexException e) {
            return new NodeCleanup(node, false, List.of(), why(e), List.of("watermarks of node " + removed
                    + " and its ibex.applied row (harmless: nothing reads them now)"), List.of(watermarks, applied));
        }
    }

    /**
     * On the removed node: the capture of every table of the sync (triggers, ledger, logs), the sync's
     * rows in {@code ibex.applied} and {@code ibex.sync_fence}, and the {@code ibex}
     * schema itself when no capture is left on the node and it is in no other sync.
     */
    private NodeCleanup cleanRemoved(SyncSettings sync, String node, Map<String, String> memberDatabases) {
        List<String> done = new ArrayList<>();
        List<TableRef> tables = new ArrayList<>(sync.tables().stream().map(TableSettings::table).toList());
        boolean otherSyncs = control.syncs().all().stream().anyMatch(s -> !s.name().equals(sync.name()) && s.node(node).isPresent());
        try (Connection c = directory.pool(node).getConnection()) {
            String member = memberDatabases.get(database(c));
            if (member != null) {
                return new NodeCleanup(node, true, List.of(), "its URL reaches the database of node " + member + ", which stays in "
                        + "the sync, so nothing was cleaned there; check the URLs with 'ibex node list'", List.of(), List.of());
            }
            if (!ibexSchema(c)) {
                return new NodeCleanup(node, true, List.of("no ibex schema: nothing to clean"), null, List.of(), List.of());
            }
            tables = captured(c, sync.name());
            while (!tables.isEmpty()) {
                CaptureInstaller.remove(c, node, tables.get(0));
                done.add("capture removed from table " + tables.remove(0));
            }
            for (String t : BOOKKEEPING) {
                run(c, "delete from " + t + " where sync_name = " + literal(sync.name()));
            }
            done.add("the sync's rows in " + String.join(" and ", BOOKKEEPING) + " deleted");
            if (!otherSyncs && run(c, "select 1 from ibex.capture") == 0) {
                run(c, "drop schema ibex cascade");
                done.add("schema ibex dropped (the node is in no other sync)");
            }
            return new NodeCleanup(node, true, done, null, List.of(), List.of());
        } catch (SQLException | IbexException e) {
            List<String> left = new ArrayList<>();
            List<String> sql = new ArrayList<>();
            for (TableRef t : tables) {
                left.add("capture on table " + t + " (triggers ibex_capture_*, ledger ibex." + t.ledgerName() + ")");
                sql.add("select ibex.remove_capture(" + literal(t.schema()) + ", " + literal(t.name()) + ")");
            }
            left.add("the sync's rows in " + String.join(" and ", BOOKKEEPING));
            for (String t : BOOKKEEPING) {
                sql.add("delete from " + t + " where sync_name = " + literal(sync.name()));
            }
            if (!otherSyncs) {
                left.add("schema ibex");
                sql.add("drop schema ibex cascade");
            }
            return new NodeCleanup(node, true, done, why(e), left, sql);
        }
    }

    private static List<TableRef> captured(Connection c, String sync) throws SQLException {
        List<TableRef> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("select table_schema, table_name from ibex.capture where sync_name = ? "
                + "order by 1, 2")) {
            ps.setString(1, sync);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new TableRef(rs.getString(1), rs.getString(2)));
                }
            }
        }
        return out;
    }

    /** Tells a database apart from any other: its server's start time, its oid and name (as {@code sync add} does). */
    private static String database(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("select pg_postmaster_start_time()::text || '/' || d.oid || '/' || d.datname "
                + "from pg_database d where d.datname = current_database()"); ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static boolean ibexSchema(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("select to_regclass('ibex.capture') is not null"); ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getBoolean(1);
        }
    }

    /** Runs one statement; returns the rows it changed (or returned). */
    private static int run(Connection c, String sql) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            if (ps.execute()) {
                int n = 0;
                try (ResultSet rs = ps.getResultSet()) {
                    while (rs.next()) {
                        n++;
                    }
                }
                return n;
            }
            return Math.max(0, ps.getUpdateCount());
        }
    }

    private static String why(Exception e) {
        return e instanceof SQLException s && SqlErrors.isConnectionFailure(s) ? "unreachable: " + SqlErrors.connectFailure(s)
                : Redactor.firstLine(e.getMessage());
    }

    /** A SQL string literal (for the statements the report prints). */
    private static String literal(String s) {
        return "'" + s.replace("'", "''") + "'";
    }
}
