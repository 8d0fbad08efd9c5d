package dev.ibex.engine.copy;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.capture.CaptureInstaller;
import dev.ibex.engine.capture.NodeSchema;
import dev.ibex.engine.capture.ShapeCheck;
import dev.ibex.engine.capture.TableInspector;
import dev.ibex.engine.capture.TableShape;
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
 * Copies every table of a sync, with its ledger and watermarks, from a healthy node onto a node
 * that the sync's rounds leave out meanwhile: what {@code ibex node resync} and {@code ibex sync
 * add-node} share. The caller marks the node and waits for a round in progress first.
 *
 * <p>One repeatable-read, read-only snapshot on the source covers every table, so the copy is
 * consistent across tables. One transaction on the target, under {@code session_replication_role =
 * replica}, first locks every table in EXCLUSIVE mode (its writers wait for the copy, readers go
 * on; writers on the other nodes never wait), then per table installs capture, replaces the rows
 * and the ledger (versions without a local txid, so no node reads them as new changes), empties
 * the change logs, and sets watermarks: the target holds the source's changes up to the snapshot's
 * horizon and every other source's as far as the source holds them. A failure rolls the target
 * back whole: its tables unchanged, no capture left. After the commit, every other node reads the
 * target's changes from the target's transaction horizon at the copy on, so the writes that waited
 * for the copy are captured and replicated after it.
 */
public final class NodeCopier {
    /** What was copied for one table. */
    public record Copied(String sync, TableRef table, String from, long rows, long ledgerEntries) {
    }

    /**
     * The tables copied, how long the copy took (from the source's snapshot to the target's
     * commit), and the other nodes where it could not be recorded that the target's changes start
     * at the copy (unreachable): each says why.
     */
    public record Copy(List<Copied> tables, Duration took, List<String> unrestarted) {
    }

    private NodeCopier() {
    }

    /** Copies every table of {@code s} from {@code source} onto {@code target}; see the class comment. */
    public static Copy copy(NodeDirectory directory, SyncSettings s, NodeId target, String source, ProgressListener progress) {
        NodeSchema.migrate(directory.pool(target.name()));
        List<TableRef> tables = s.tables().stream().map(TableSettings::table).toList();
        List<Copied> out = new ArrayList<>();
        String ownHorizon;
        long started = System.nanoTime();
        try (Connection from = directory.pool(source).getConnection(); Connection to = directory.pool(target.name()).getConnection()) {
            from.setAutoCommit(false);
            to.setAutoCommit(false);
            try (Statement fs = from.createStatement(); Statement ts = to.createStatement()) {
                fs.execute("set transaction isolation level repeatable read, read only");
                TxId horizon = TxId.parse(text(fs, "select pg_snapshot_xmin(pg_current_snapshot())::text"));
                ts.execute("set local session_replication_role = replica");
                ts.execute("lock table " + String.join(", ", tables.stream().map(t -> Idents.name(t.schema(), t.name())).toList())
                        + " in exclusive mode");
                for (TableSettings t : s.tables()) {
                    out.add(copyTable(s, target, source, t, from, to, horizon, progress));
                }
                ownHorizon = text(ts, "select pg_snapshot_xmin(pg_current_snapshot())::text");
                from.commit();
                to.commit();
            } catch (SQLException | RuntimeException e) {
                rollbackQuietly(to);
                rollbackQuietly(from);
                throw e;
            } finally {
                restoreAutoCommit(from);
                restoreAutoCommit(to);
            }
        } catch (SQLException e) {
            throw new IbexException("copying sync " + s.name() + " from node " + source + " to node " + target + " failed: "
                    + Redactor.firstLine(SqlErrors.message(e)) + "; nothing changed on node " + target, e);
        }
        Duration took = Duration.ofNanos(System.nanoTime() - started);
        return new Copy(out, took, restartWatermarks(directory, s, target.name(), tables, ownHorizon));
    }

    private static Copied copyTable(SyncSettings s, NodeId target, String source, TableSettings t, Connection from, Connection to,
                                    TxId horizon, ProgressListener progress) throws SQLException {
        TableRef table = t.table();
        Map<String, Optional<TableShape>> shapes = new LinkedHashMap<>();
        shapes.put(source, TableInspector.inspect(from, table));
        shapes.put(target.name(), TableInspector.inspect(to, table));
        List<String> problems = ShapeCheck.problems(table, shapes);
        if (!problems.isEmpty()) {
            throw new UsageException(String.join("; ", problems) + "; make the table the same on node " + target + " first");
        }
        TableShape shape = shapes.get(source).orElseThrow();
        CaptureInstaller.install(to, target.name(), s.name(), table, target.ordinal(), Strategies.needsBase(s.strategyFor(t)));
        String rel = Idents.name(table.schema(), table.name());
        String ledger = Idents.name("ibex", table.ledgerName());
        try (Statement fs = from.createStatement(); Statement ts = to.createStatement()) {
            Map<String, TxId> marks = new LinkedHashMap<>(WatermarkStore.of(from, table.ledgerName()));
            long total = Long.parseLong(text(fs, "select count(*)::text from " + rel));
            String cols = Idents.list(null, shape.columnNames());
            ts.execute("delete from " + rel);
            long rows = InitialCopier.stream(from, "copy (select " + cols + " from " + rel + ") to stdout", to,
                    "copy " + rel + " (" + cols + ") from stdin", done -> progress.copying(table, source, target.name(), done, total));
            progress.copying(table, source, target.name(), rows, rows);
            String keys = Idents.list(null, shape.key());
            int sourceOrdinal = s.node(source).orElseThrow().ordinal();
            ts.execute("delete from " + ledger);
            long entries = InitialCopier.stream(from, "copy (select " + keys + ", ibex_ts, ibex_origin, "
                    + "ibex.version(ibex_vv, ibex_local, " + sourceOrdinal + ") from " + ledger + ") to stdout", to,
                    "copy " + ledger + " (" + keys + ", ibex_ts, ibex_origin, ibex_vv) from stdin", done -> { });
            // what the node logged before the copy is replaced with its rows; later changes are new
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
            return new Copied(s.name(), table, source, rows, entries);
        }
    }

    /** On every other node of the sync, the node's changes are read again from {@code horizon} on; returns the failures. */
    private static List<String> restartWatermarks(NodeDirectory directory, SyncSettings s, String node, List<TableRef> tables,
                                                  String horizon) {
        List<String> failed = new ArrayList<>();
        for (NodeId other : s.nodes()) {
            if (other.name().equals(node) || s.resyncNeeded().containsKey(other.name())) {
                continue;
            }
            try (Connection c = directory.pool(other.name()).getConnection()) {
                for (TableRef t : tables) {
                    WatermarkStore.record(c, t.ledgerName(), Map.of(node, TxId.parse(horizon)));
                }
            } catch (SQLException | RuntimeException e) {
                failed.add("node " + other + ": recording where node " + node + "'s changes start after its copy failed: "
                        + Redactor.firstLine(e instanceof SQLException q ? SqlErrors.message(q) : e.getMessage()));
            }
        }
        return failed;
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

    private static void restoreAutoCommit(Connection c) {
        try {
            c.setAutoCommit(true);
        } catch (SQLException ignored) {
            // a broken connection is dropped by the pool
        }
    }
}
