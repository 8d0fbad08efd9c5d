package dev.ibex.engine.install;

import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.Strategies;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.copy.ProgressListener;
import dev.ibex.engine.db.Redactor;
import dev.ibex.conflict.NodeId;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.capture.CaptureInstaller;
import dev.ibex.engine.capture.NodeSchema;
import dev.ibex.engine.capture.ShapeCheck;
import dev.ibex.engine.capture.TableInspector;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.copy.InitialCopier;
import dev.ibex.engine.copy.TableChecksum;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.db.NodeUnreachableException;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Adds and removes syncs and tables: checks everything first (nodes reachable, tables present
 * with the same columns, types and primary key everywhere, contents equal unless an initial-copy
 * source is named), then installs capture on every node, copies the initial rows, and only then
 * stores the configuration. A refused command changes nothing.
 */
public final class SyncInstaller {
    private final ControlStore control;
    private final NodeDirectory directory;

    public SyncInstaller(ControlStore control, NodeDirectory directory) {
        this.control = control;
        this.directory = directory;
    }

    /** Adds a sync; returns the tables' shapes as the first node has them (their keys, for what the command prints). */
    public List<TableShape> addSync(SyncSettings sync, String copyFrom, ProgressListener progress) {
        if (control.syncs().exists(sync.name())) {
            throw new UsageException("sync " + sync.name() + " exists already; remove it first or pick another name");
        }
        sync.nodes().forEach(n -> control.nodes().get(n.name()));
        for (TableSettings t : sync.tables()) {
            control.tables().syncOf(t.table()).ifPresent(owner -> {
                throw new UsageException("table " + t.table() + " is already in sync " + owner + "; a table belongs to one sync");
            });
        }
        List<TableShape> shapes = install(sync, sync.tables(), copyFrom, progress);
        control.syncs().add(sync);
        return shapes;
    }

    /** Adds tables to a sync; returns their shapes as the first node has them. */
    public List<TableShape> addTables(String syncName, List<TableSettings> tables, String copyFrom, ProgressListener progress) {
        SyncSettings sync = control.syncs().get(syncName);
        for (TableSettings t : tables) {
            control.tables().syncOf(t.table()).ifPresent(owner -> {
                throw new UsageException("table " + t.table() + " is already in sync " + owner + "; a table belongs to one sync");
            });
        }
        List<TableShape> shapes = install(sync, tables, copyFrom, progress);
        control.tables().add(syncName, tables);
        return shapes;
    }

    private List<TableShape> install(SyncSettings sync, List<TableSettings> tables, String copyFrom, ProgressListener progress) {
        if (copyFrom != null && sync.node(copyFrom).isEmpty()) {
            throw new UsageException("--initial-copy-from " + copyFrom + " is not one of the sync's nodes "
                    + sync.nodes().stream().map(NodeId::name).toList());
        }
        Map<String, Connection> conns = connect(sync);
        try {
            requireDistinctDatabases(conns);
            Map<TableRef, TableShape> shapes = checkShapes(sync, tables, conns);
            requirePartitionsUnreplicated(shapes, conns);
            if (copyFrom == null) {
                checkEqualContents(tables, conns);
            }
            for (NodeId n : sync.nodes()) {
                NodeSchema.migrate(directory.pool(n.name()));
                for (TableSettings t : tables) {
                    CaptureInstaller.install(conns.get(n.name()), n.name(), sync.name(), t.table(), n.ordinal(),
                            Strategies.needsBase(sync.strategyFor(t)));
                }
            }
            if (copyFrom != null) {
                copyAll(sync, tables, shapes, copyFrom, conns, progress);
            }
            return List.copyOf(shapes.values());
        } finally {
            conns.values().forEach(SyncInstaller::closeQuietly);
        }
    }

    private Map<String, Connection> connect(SyncSettings sync) {
        Map<String, Connection> conns = new LinkedHashMap<>();
        for (NodeId n : sync.nodes()) {
            try {
                conns.put(n.name(), directory.pool(n.name()).getConnection());
            } catch (SQLException e) {
                conns.values().forEach(SyncInstaller::closeQuietly);
                throw new UsageException("node " + n + " is unreachable: " + dev.ibex.engine.db.SqlErrors.connectFailure(e)
                        + "; check its URL with 'ibex node check " + n + "'", e);
            } catch (NodeUnreachableException e) {
                conns.values().forEach(SyncInstaller::closeQuietly);
                throw new UsageException(e.getMessage(), e);
            }
        }
        return conns;
    }

    /**
     * Refuses two nodes whose URLs reach the same database (another host name or port for the same
     * server, a copy-pasted URL): capture and applies would run twice on one set of rows. A
     * database is told by its server's start time and its oid, which any role may read.
     */
    private static void requireDistinctDatabases(Map<String, Connection> conns) {
        Map<String, String> seen = new HashMap<>();
        for (Map.Entry<String, Connection> e : conns.entrySet()) {
            String id;
            try (java.sql.Statement st = e.getValue().createStatement();
                 java.sql.ResultSet rs = st.executeQuery("select pg_postmaster_start_time()::text || '/' || d.oid || '/' || d.datname "
                         + "from pg_database d where d.datname = current_database()")) {
                rs.next();
                id = rs.getString(1);
            } catch (SQLException ex) {
                throw new IbexException("node " + e.getKey() + ": " + Redactor.firstLine(ex.getMessage()), ex);
            }
            String other = seen.putIfAbsent(id, e.getKey());
            if (other != null) {
                throw new UsageException("nodes " + other + " and " + e.getKey() + " reach the same database ("
                        + id.substring(id.lastIndexOf('/') + 1) + " on the same server); each node of a sync needs its own "
                        + "database: check their URLs with 'ibex node list'");
            }
        }
    }

    private static Map<TableRef, TableShape> checkShapes(SyncSettings sync, List<TableSettings> tables, Map<String, Connection> conns) {
        Map<TableRef, TableShape> out = new LinkedHashMap<>();
        for (TableSettings t : tables) {
            Map<String, Optional<TableShape>> shapes = new LinkedHashMap<>();
            conns.forEach((node, c) -> shapes.put(node, TableInspector.inspect(c, t.table())));
            List<String> problems = ShapeCheck.problems(t.table(), shapes);
            if (!problems.isEmpty()) {
                throw new UsageException(problems.get(0) + (problems.size() > 1 ? " (and " + (problems.size() - 1) + " more)" : ""));
            }
            out.put(t.table(), shapes.values().iterator().next().orElseThrow());
        }
        return out;
    }

    /** Refuses a partitioned table one of whose partitions a sync replicates as a table of its own. */
    private void requirePartitionsUnreplicated(Map<TableRef, TableShape> shapes, Map<String, Connection> conns) {
        for (TableShape shape : shapes.values()) {
            if (!shape.partitioning().partitioned()) {
                continue;
            }
            conns.forEach((node, c) -> TableInspector.partitionsOf(c, shape.table()).forEach(p ->
                    control.tables().syncOf(p).ifPresent(owner -> {
                        throw new UsageException("partition " + p + " of table " + shape.table() + " is replicated by sync " + owner
                                + " as a table of its own; remove it with 'ibex table remove " + owner + " " + p
                                + "' before adding the partitioned table");
                    })));
        }
    }

    private static void checkEqualContents(List<TableSettings> tables, Map<String, Connection> conns) {
        for (TableSettings t : tables) {
            Map<String, TableChecksum> sums = new LinkedHashMap<>();
            conns.forEach((node, c) -> sums.put(node, TableChecksum.of(c, node, t.table())));
            if (sums.values().stream().distinct().count() > 1) {
                List<String> rows = new ArrayList<>();
                sums.forEach((n, s) -> rows.add(n + ": " + s.rows() + " rows"));
                throw new UsageException("table " + t.table() + " differs between nodes (" + String.join(", ", rows)
                        + "); name the node to copy it from with --initial-copy-from NODE");
            }
        }
    }

    private static void copyAll(SyncSettings sync, List<TableSettings> tables, Map<TableRef, TableShape> shapes, String from,
                                Map<String, Connection> conns, ProgressListener progress) {
        for (TableSettings t : tables) {
            long total = TableChecksum.of(conns.get(from), from, t.table()).rows();
            for (NodeId n : sync.nodes()) {
                if (!n.name().equals(from)) {
                    InitialCopier.copy(conns.get(from), from, conns.get(n.name()), n.name(), shapes.get(t.table()),
                            done -> progress.copying(t.table(), from, n.name(), done, total));
                }
            }
        }
    }

    /**
     * Changes a sync's settings (strategy, priority, schedule, retention, skew bound) or its tables'
     * strategies. When that changes whether a table's resolver needs row bases, capture is
     * reinstalled on every node first, so every node must be reachable; otherwise nothing changes.
     */
    public void update(SyncSettings changed) {
        SyncSettings before = control.syncs().get(changed.name());
        Map<TableRef, Boolean> basesBefore = new HashMap<>();
        before.tables().forEach(t -> basesBefore.put(t.table(), Strategies.needsBase(before.strategyFor(t))));
        Map<TableRef, Boolean> flipped = new LinkedHashMap<>();
        for (TableSettings t : changed.tables()) {
            boolean bases = Strategies.needsBase(changed.strategyFor(t));
            if (bases != basesBefore.getOrDefault(t.table(), false)) {
                flipped.put(t.table(), bases);
            }
        }
        if (!flipped.isEmpty()) {
            Map<String, Connection> conns = connect(changed);
            try {
                for (NodeId n : changed.nodes()) {
                    NodeSchema.migrate(directory.pool(n.name()));
                    flipped.forEach((table, bases) -> CaptureInstaller.install(conns.get(n.name()), n.name(), changed.name(), table,
                            n.ordinal(), bases));
                }
            } finally {
                conns.values().forEach(SyncInstaller::closeQuietly);
            }
        }
        control.syncs().update(changed);
    }

    /** The tables of {@code schema} as node {@code node} has them (for {@code --schema}). */
    public List<TableRef> tablesOfSchema(String node, String schema) {
        try (Connection c = directory.pool(node).getConnection()) {
            List<TableRef> t = dev.ibex.engine.capture.TableInspector.tablesIn(c, schema);
            if (t.isEmpty()) {
                throw new UsageException("schema " + schema + " has no tables on node " + node);
            }
            return t;
        } catch (SQLException e) {
            throw new UsageException("node " + node + " is unreachable: " + dev.ibex.engine.db.SqlErrors.connectFailure(e), e);
        }
    }

    /** Removes a sync: capture off every reachable node, then the configuration. Returns warnings. */
    public List<String> removeSync(String name) {
        SyncSettings sync = control.syncs().get(name);
        List<String> warnings = removeCapture(sync, sync.tables().stream().map(TableSettings::table).toList());
        control.syncs().remove(name);
        return warnings;
    }

    public List<String> removeTables(String syncName, List<TableRef> tables) {
        SyncSettings sync = control.syncs().get(syncName);
        control.tables().remove(syncName, tables);
        return removeCapture(sync, tables);
    }

    private List<String> removeCapture(SyncSettings sync, List<TableRef> tables) {
        List<String> warnings = new ArrayList<>();
        for (NodeId n : sync.nodes()) {
            try (Connection c = directory.pool(n.name()).getConnection()) {
                tables.forEach(t -> CaptureInstaller.remove(c, n.name(), t));
            } catch (SQLException | IbexException e) {
                warnings.add("node " + n + ": capture not removed (" + Redactor.firstLine(e.getMessage())
                        + "); run the command again when the node is back, or drop the ibex triggers by hand");
            }
        }
        return warnings;
    }

    private static void closeQuietly(Connection c) {
        try {
            c.close();
        } catch (SQLException ignored) {
            // nothing to do
        }
    }
}
