package dev.ibex.engine.install;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.capture.ShapeCheck;
import dev.ibex.engine.capture.TableInspector;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.RoundLocks;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.copy.NodeCopier;
import dev.ibex.engine.copy.ProgressListener;
import dev.ibex.engine.db.Idents;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.db.SqlErrors;
import dev.ibex.engine.status.NodeProbe;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Adds a node to a sync while every node takes writes. Everything is checked first, reading only
 * (a refused command changes nothing anywhere). Then, holding the sync's copy lock, the node becomes
 * a member with an ordinal the sync never handed out before, marked as joining in the same control
 * transaction (rounds leave it out); the round lock is taken once, so a round already under way
 * finishes first; {@link NodeCopier} copies every table from the existing node; the mark is
 * cleared and the sync kicked. A failed copy changes nothing on the node and takes it out of the
 * sync again; a crash leaves it marked with a reason naming the two ways out.
 */
public final class NodeAdder {
    private static final Duration ROUND_WAIT = Duration.ofMinutes(2);

    /** What was done: the node's ordinal, each table copied, how long it all took and the copy alone, and warnings. */
    public record Added(String sync, String node, int ordinal, String from, List<NodeCopier.Copied> tables, Duration took,
                        Duration copying, List<String> warnings) {
        public long rows() {
            return tables.stream().mapToLong(NodeCopier.Copied::rows).sum();
        }
    }

    private final ControlStore control;
    private final NodeDirectory directory;

    public NodeAdder(ControlStore control, NodeDirectory directory) {
        this.control = control;
        this.directory = directory;
    }

    /** Adds {@code node} to sync {@code syncName} with a copy of its tables from member {@code from}. */
    public Added add(String syncName, String node, String from, ProgressListener progress) {
        long started = System.nanoTime();
        SyncSettings before = check(syncName, node, from);
        int widest = widestVersion(before);
        NodeCopier.Copy copy;
        NodeId id;
        try (RoundLocks.RoundLock copying = control.rounds().copyLock(syncName)) {
            id = control.syncs().addNode(syncName, node, "joining: copy from " + from + " in progress; if it is not running any more,"
                    + " run 'ibex sync remove-node " + syncName + " " + node + "' or 'ibex node resync " + node + " --sync " + syncName
                    + " --from " + from + "'", widest + 1);
            try {
                try (RoundLocks.RoundLock waited = control.rounds().lock(syncName, ROUND_WAIT)) {
                    // a round that started before the node joined has finished; later ones leave it out and purge nothing
                }
                control.syncs().joinPendingPurges(syncName, node);
                copy = NodeCopier.copy(directory, control.syncs().get(syncName), id, from, progress);
            } catch (RuntimeException e) {
                control.syncs().removeNode(before, node);
                String why = Redactor.firstLine(e.getMessage()).replaceAll("[.;]?\\s*$", "");
                String message = "adding node " + node + " to sync " + syncName + " failed: " + why + "; node " + node
                        + " was taken out of the sync again and its tables are as they were";
                throw e instanceof UsageException ? new UsageException(message, e) : new IbexException(message, e);
            }
            control.syncs().clearResyncNeeded(syncName, node);
        }
        control.rounds().kick(syncName);
        return new Added(syncName, node, id.ordinal(), from, copy.tables(), Duration.ofNanos(System.nanoTime() - started), copy.took(),
                copy.unrestarted());
    }

    /**
     * The most positions any version vector in the ledgers of the sync's reachable members holds:
     * a new node's ordinal must lie beyond it, or it would inherit the counts of a removed node that
     * held that ordinal (its changes could then look already seen). The sync's ordinal counter
     * covers every node removed since it exists; this covers those removed before.
     */
    private int widestVersion(SyncSettings sync) {
        int widest = 0;
        for (NodeId member : sync.nodes()) {
            try (Connection c = directory.pool(member.name()).getConnection(); Statement s = c.createStatement();
                 PreparedStatement exists = c.prepareStatement("select to_regclass(?) is not null")) {
                for (TableSettings t : sync.tables()) {
                    String ledger = Idents.name("ibex", t.table().ledgerName());
                    exists.setString(1, ledger);
                    try (ResultSet rs = exists.executeQuery()) {
                        if (!rs.next() || !rs.getBoolean(1)) {
                            continue;
                        }
                    }
                    try (ResultSet rs = s.executeQuery("select coalesce(max(pg_catalog.cardinality(ibex_vv)), 0) from " + ledger)) {
                        rs.next();
                        widest = Math.max(widest, rs.getInt(1));
                    }
                }
            } catch (SQLException | RuntimeException e) {
                // an unreachable member: the sync's ordinal counter still stands for it
            }
        }
        return widest;
    }

    /** Every check, reading only; returns the sync as it is. Bad input is a {@link UsageException}, an unreachable node not. */
    private SyncSettings check(String syncName, String node, String from) {
        SyncSettings sync = control.syncs().get(syncName);
        control.nodes().get(node);
        List<String> names = sync.nodes().stream().map(NodeId::name).toList();
        if (sync.node(node).isPresent()) {
            throw new UsageException("node " + node + " is already in sync " + syncName + "; to copy its tables again run 'ibex node resync "
                    + node + " --sync " + syncName + "'");
        }
        if (sync.node(from).isEmpty()) {
            throw new UsageException("--copy-from " + from + " is not a node of sync " + syncName + " (its nodes: " + names
                    + "); copy from one of them");
        }
        if (sync.resyncNeeded().containsKey(from)) {
            throw new UsageException("--copy-from " + from + " needs a resync itself; copy from another node of sync " + syncName + " "
                    + sync.activeNodes().stream().map(NodeId::name).toList());
        }
        try (Connection target = connect(node); Connection source = connect(from)) {
            probe(node, target);
            requireOwnDatabase(sync, node, target);
            for (TableSettings t : sync.tables()) {
                Map<String, Optional<TableShape>> shapes = new LinkedHashMap<>();
                shapes.put(from, TableInspector.inspect(source, t.table()));
                shapes.put(node, TableInspector.inspect(target, t.table()));
                List<String> problems = ShapeCheck.problems(t.table(), shapes);
                if (!problems.isEmpty()) {
                    throw new UsageException(problems.get(0) + (problems.size() > 1 ? " (and " + (problems.size() - 1) + " more)" : "")
                            + "; make the table on node " + node + " the same as on node " + from + " first; nothing changed");
                }
            }
        } catch (SQLException e) {
            throw new IbexException("checking node " + node + " and node " + from + " failed: " + Redactor.firstLine(SqlErrors.message(e))
                    + "; nothing changed", e);
        }
        return sync;
    }

    private Connection connect(String node) {
        try {
            return directory.pool(node).getConnection();
        } catch (SQLException e) {
            throw new IbexException("node " + node + " is unreachable: " + SqlErrors.connectFailure(e) + "; nothing changed; check it with"
                    + " 'ibex node check " + node + "'", e);
        } catch (IbexException e) {
            throw new IbexException(Redactor.firstLine(e.getMessage()).replaceAll("[.;]?\\s*$", "") + "; nothing changed", e);
        }
    }

    /** The node runs a PostgreSQL Ibex supports, and its role may create the ibex schema and set the replication role. */
    private static void probe(String node, Connection c) throws SQLException {
        NodeProbe.Report r = NodeProbe.probe(node, c, Clock.systemUTC());
        if (r.versionNum() < NodeProbe.OLDEST_SUPPORTED) {
            throw new UsageException("node " + node + " runs PostgreSQL " + r.serverVersion() + "; Ibex needs PostgreSQL 13 or later "
                    + "(see docs/postgresql-versions.md)");
        }
        if (!r.canCreateSchema() && !hasIbexSchema(c)) {
            throw new UsageException("node " + node + ": role " + r.user() + " may not create the ibex schema; grant CREATE on the "
                    + "database to it ('ibex node check " + node + "' lists what Ibex needs)");
        }
        if (!r.canSetReplicationRole()) {
            throw new UsageException("node " + node + ": role " + r.user() + " may not set session_replication_role; "
                    + (r.versionNum() < 150000 ? "before PostgreSQL 15 only a superuser can" : "GRANT SET ON PARAMETER "
                    + "session_replication_role TO " + r.user()) + " ('ibex node check " + node + "' lists what Ibex needs)");
        }
    }

    /** Refuses a node whose URL reaches the database of a member (checked on the members that answer). */
    private void requireOwnDatabase(SyncSettings sync, String node, Connection target) throws SQLException {
        String own = database(target);
        for (NodeId m : sync.nodes()) {
            try (Connection c = directory.pool(m.name()).getConnection()) {
                if (database(c).equals(own)) {
                    throw new UsageException("node " + node + " reaches the database of node " + m.name() + ", a member of sync "
                            + sync.name() + "; each node needs its own database: check the URLs with 'ibex node list'");
                }
            } catch (SQLException | IbexException e) {
                if (e instanceof UsageException u) {
                    throw u;
                }
                // a member that does not answer cannot be the node's database, which answered
            }
        }
    }

    private static String database(Connection c) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("select pg_postmaster_start_time()::text || '/' || d.oid "
                + "|| '/' || d.datname from pg_database d where d.datname = current_database()")) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static boolean hasIbexSchema(Connection c) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("select to_regnamespace('ibex') is not null")) {
            rs.next();
            return rs.getBoolean(1);
        }
    }
}
