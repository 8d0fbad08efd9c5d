package dev.ibex.engine.copy;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.capture.CaptureInstaller;
import dev.ibex.engine.capture.NodeSchema;
import dev.ibex.engine.capture.ShapeCheck;
import dev.ibex.engine.capture.TableInspector;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.RoundLocks;
import dev.ibex.engine.config.Strategies;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.db.Idents;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.db.SqlErrors;
import dev.ibex.engine.window.TxId;
import dev.ibex.engine.window.WatermarkStore;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Brings a node back into its syncs by copying every table, with its ledger and watermarks, from a
 * healthy node: what a node needs after it stayed away past the node retention, or after its
 * database was rebuilt. Changes the node made while it was left out are discarded: its rows become
 * the healthy node's.
 *
 * <p>Per sync: the node is marked as needing a resync (rounds leave it out from their next start),
 * the sync's round lock is taken once to wait for a round that started earlier, and then each table
 * is copied in one transaction on the node that holds the table locked: rows, the ledger entries
 * (versions without a local txid, so that no node reads them as new changes), and watermarks
 * saying the node holds the healthy node's changes up to the copy's snapshot and every other
 * source's changes as far as the healthy node holds them. The other nodes' watermarks for the
 * node restart at its current transaction horizon (its database may be new). Then the mark is
 * cleared and the next round reconciles whatever changed meanwhile.
 */
public final class NodeResync {
    private static final Duration ROUND_WAIT = Duration.ofMinutes(2);

    /** What was copied for one table. */
    public record Copied(String sync, TableRef table, String from, long rows, long ledgerEntries) {
    }

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
    public List<Copied> resync(String node, String syncName, String from, ProgressListener progress) {
        control.nodes().get(node);
        List<SyncSettings> syncs = syncName != null ? List.of(control.syncs().get(syncName))
                : control.syncs().all().stream().filter(s -> s.node(node).isPresent()).toList();
        if (syncs.isEmpty()) {
            throw new UsageException("node " + node + " is in no sync; nothing to resync");
        }
        List<Copied> out = new ArrayList<>();
        for (SyncSettings s : syncs) {
            NodeId target = s.node(node).orElseThrow(() -> new UsageException("node " + node + " is not in sync " + s.name()
                    + " (its nodes: " + s.nodes().stream().map(NodeId::name).toList() + ")"));
            String source = source(s, node, from);
            control.syncs().markResyncNeeded(s.name(), node, "resync from " + source + " in progress");
            try (RoundLocks.RoundLock waited = control.rounds().lock(s.name(), ROUND_WAIT)) {
                // a round that started before the mark has finished; later ones leave the node out
            }
            try {
                for (TableSettings t : s.tables()) {
                    out.add(copyTable(s, target, source, t, progress));
                }
            } catch (RuntimeException e) {
                control.syncs().setResyncReason(s.name(), node, "a resync from " + source + " failed: " + Redactor.firstLine(e.getMessage())
                        + "; run 'ibex node resync " + node + "' again");
                throw e;
            }
            control.syncs().clearResyncNeeded(s.name(), node);
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

    private Copied copyTable(SyncSettings s, NodeId target, String source, TableSettings t, ProgressListener progress) {
        TableRef table = t.table();
        String ledger = Idents.name("ibex", table.ledgerName());
        try (Connection from = directory.pool(source).getConnection(); Connection to = directory.pool(target.name()).getConnection()) {
            NodeSchema.migrate(directory.pool(target.name()));
            Map<String, Optional<TableShape>> shapes = new LinkedHashMap<>();
            shapes.put(source, TableInspector.inspect(from, table));
            shapes.put(target.name(), TableInspector.inspect(to, table));
            List<String> problems = ShapeCheck.problems(table, shapes);
            if (!problems.isEmpty()) {
                throw new UsageException(String.join("; ", problems) + "; make the table the same on node " + target + " first");
            }
            TableShape shape = shapes.get(source).orElseThrow();
            CaptureInstaller.install(to, target.name(), s.name(), table, target.ordinal(), Strategies.needsBase(s.strategyFor(t)));
            from.setAutoCommit(false);
            to.setAutoCommit(false);
            try (Statement fs = from.createStatement(); Statement ts = to.createStatement()) {
                fs.execute("set transaction isolation level repeatable read, read only");
                TxId horizon = TxId.parse(text(fs, "select pg_snapshot_xmin(pg_current_snapshot())::text"));
                Map<String, TxId> marks = new LinkedHashMap<>(WatermarkStore.of(from, table.ledgerName()));
                long total = Long.parseLong(text(fs, "select count(*)::text from " + Idents.name(table.schema(), table.name())));
                ts.execute("set local session_replication_role = replica");
                ts.execute("lock table " + Idents.name(table.schema(), table.name()) + " in exclusive mode");
                String rel = Idents.name(table.schema(), table.name());
                String cols = Idents.list(null, shape.columnNames());
                ts.execute("delete from " + rel);
                long rows = InitialCopier.stream(from, "copy (select " + cols + " from " + rel + ") to stdout", to,
                        "copy " + rel + " (" + cols + ") from stdin", done -> progress.copying(table, source, target.name(), done, total));
                progress.copying(table, source, target.name(), rows, rows);
                String entryCols = Idents.list(null, shape.key()) + ", ibex_ts, ibex_origin, ibex_vv";
                int sourceOrdinal = s.node(source).orElseThrow().ordinal();
                ts.execute("delete from " + ledger);
                long entries = InitialCopier.stream(from, "copy (select " + Idents.list(null, shape.key()) + ", ibex_ts, ibex_origin, "
                        + "ibex.version(ibex_vv, ibex_local, " + sourceOrdinal + ") from " + ledger + ") to stdout", to,
                        "copy " + ledger + " (" + entryCols + ") from stdin", done -> { });
                // what the node logged while it was left out is discarded with its rows; later changes are new
                ts.execute("truncate " + Idents.name("ibex", table.ledgerName() + "_log0") + ", "
                        + Idents.name("ibex", table.ledgerName() + "_log1"));
                try (PreparedStatement ps = to.prepareStatement("update ibex.capture set fold_snapshot = pg_current_snapshot(), "
                        + "last_fold_txid = null where ledger_name = ?")) {
                    ps.setString(1, table.ledgerName());
                    ps.executeUpdate();
                }
                marks.remove(target.name());
                marks.put(source, horizon);
                WatermarkStore.replace(to, table.ledgerName(), marks);
                String ownHorizon = text(ts, "select pg_snapshot_xmin(pg_current_snapshot())::text");
                to.commit();
                from.commit();
                restartWatermarks(s, target.name(), table, ownHorizon);
                return new Copied(s.name(), table, source, rows, entries);
            } catch (SQLException | RuntimeException e) {
                rollbackQuietly(to);
                rollbackQuietly(from);
                throw e;
            } finally {
                from.setAutoCommit(true);
                to.setAutoCommit(true);
            }
        } catch (SQLException e) {
            throw new IbexException("resyncing table " + table + " of node " + target + " from node " + source + " failed: "
                    + Redactor.firstLine(SqlErrors.message(e)) + "; nothing of that table changed on node " + target
                    + "; run the resync again", e);
        }
    }

    /** On every other node of the sync, the node's changes are read again from {@code horizon} on. */
    private void restartWatermarks(SyncSettings s, String node, TableRef table, String horizon) throws SQLException {
        for (NodeId other : s.nodes()) {
            if (other.name().equals(node) || s.resyncNeeded().containsKey(other.name())) {
                continue;
            }
            try (Connection c = directory.pool(other.name()).getConnection()) {
                WatermarkStore.record(c, table.ledgerName(), Map.of(node, TxId.parse(horizon)));
            }
        }
    }

    private static String text(Statement s, String sql) throws SQLException {
        try (ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static void rollbackQuietly(Connection c) {
        try {
            c.rollback();
        } catch (SQLException ignored) {
            // the connection is broken; its transaction is gone with it
        }
    }
}
