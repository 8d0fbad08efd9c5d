package dev.ibex.engine.status;

import dev.ibex.conflict.NodeId;
import dev.ibex.conflict.VersionVector;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.capture.TableInspector;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.db.NodeSettings;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.db.NodeConnector;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.capture.ShapeSql;
import dev.ibex.engine.journal.ConflictEntry;
import dev.ibex.engine.journal.ConflictJournal;
import dev.ibex.engine.journal.RoundHistory;
import dev.ibex.engine.round.RoundOutcome;
import dev.ibex.engine.window.TxId;
import dev.ibex.engine.window.WatermarkStore;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * Reads the story of one row ({@link RowTrace}) from the control database and from every node of
 * its sync, each node on a connection of its own, reading only: the row, its ledger entry, the
 * changes to it waiting unfolded in the node's log, and the watermarks that tell which other nodes
 * have applied each node's entry. A node that cannot be read is reported with its one-line reason.
 */
public final class RowTracer {
    /** The journal entries of a key shown at most. */
    static final int JOURNAL_LIMIT = 20;
    static final String ROUNDS = "the round history records how many keys each round moved, not which ones";

    /**
     * One node's row (its columns as text), ledger entry, and unfolded log entries for the key (those
     * naming it, and markers of the transaction that last wrote the row). Parameters: the key
     * arrays, the ledger's name.
     */
    private static final String READ = """
            with k as (select * from {key_arrays}),
            c as (select fold_snapshot from ibex.capture where ledger_name = ?),
            p as (select pg_catalog.age(pg_catalog.xid(pg_catalog.pg_snapshot_xmax(c.fold_snapshot))) as ax,
                         array(select pg_catalog.xid(x) from pg_catalog.pg_snapshot_xip(c.fold_snapshot) x) as xip from c),
            rw as (select t.xmin, array[{cols_text:t}]::text[] as cols from k join {table} t on {key_match:t}),
            le as (select l.ibex_vv, l.ibex_local, l.ibex_ts, l.ibex_origin, l.ibex_txid from k join {ledger} l on {key_match:l}),
            e as (select s.* from (select {keys:s}, s.xmin, s.ibex_ts from {log0} s
                                   union all select {keys:s}, s.xmin, s.ibex_ts from {log1} s) s, p
                   where pg_catalog.age(s.xmin) <= p.ax or s.xmin = any(p.xip)),
            u as (select count(*) as n, max(e.ibex_ts) as newest from e
                   where case when {first_key:e} is null then e.xmin in (select rw.xmin from rw)
                              else exists (select 1 from k where {key_match:e}) end)
            select (select rw.cols from rw), le.ibex_vv, le.ibex_local, le.ibex_ts, le.ibex_origin, le.ibex_txid::text, u.n, u.newest
              from u left join le on true""";

    /** What one reachable node holds; {@code foldTxid} and {@code watermarks} decide what it still owes others. */
    private record Read(NodeId node, Map<String, String> row, RowTrace.Ledger ledger, long unfolded, String newestUnfolded,
                        TxId foldTxid, Map<String, TxId> watermarks) {
    }

    private final ControlStore control;

    public RowTracer(ControlStore control) {
        this.control = control;
    }

    /** Traces the row of {@code table} (TABLE or SCHEMA.TABLE) in {@code sync} whose key is {@code keyText}. */
    public RowTrace trace(String syncName, String tableText, String keyText) {
        SyncSettings s = control.syncs().get(syncName);
        TableSettings t = member(s, TableRef.parse(tableText));
        Map<NodeId, String> errors = new LinkedHashMap<>();
        Map<NodeId, Connection> conns = open(s, errors);
        try {
            Map.Entry<NodeId, Connection> first = conns.entrySet().stream().findFirst().orElseThrow(() -> new IbexException(
                    "sync " + s.name() + ": no node is reachable to read table " + t.table() + " from: " + errors.values()));
            TableShape shape = TableInspector.inspect(first.getValue(), t.table()).orElseThrow(() -> new UsageException(
                    "table " + t.table() + " does not exist on node " + first.getKey().name()));
            List<String> key = canonical(first.getValue(), shape, TraceKey.parse(keyText, shape));
            List<Read> reads = new ArrayList<>();
            for (NodeId n : s.nodes()) {
                if (conns.containsKey(n)) {
                    try {
                        reads.add(read(s, n, conns.get(n), shape, key));
                    } catch (SQLException | RuntimeException e) {
                        errors.put(n, Redactor.text(Redactor.firstLine(e.getMessage())));
                    }
                }
            }
            List<RowTrace.NodeTrace> nodes = s.nodes().stream().map(n -> node(n, reads, errors, conns.containsKey(n))).toList();
            List<ConflictEntry> conflicts = new ConflictJournal(control.dsl()).forKey(s.name(), t.table(), key, JOURNAL_LIMIT);
            Map<String, String> keyMap = new LinkedHashMap<>();
            IntStream.range(0, key.size()).forEach(i -> keyMap.put(shape.key().get(i), key.get(i)));
            return new RowTrace(s.name(), t.table().toString(), keyMap, s.strategyFor(t), nodes, conflicts, lastRound(s.name()), ROUNDS,
                    TraceExplainer.explain(s.name(), t.table().toString(), nodes, conflicts));
        } finally {
            conns.values().forEach(RowTracer::close);
        }
    }

    /** A read-only session on every node of the sync that answers; the others' one-line reasons go to {@code errors}. */
    private Map<NodeId, Connection> open(SyncSettings s, Map<NodeId, String> errors) {
        Map<NodeId, Connection> conns = new LinkedHashMap<>();
        for (NodeId n : s.nodes()) {
            try {
                NodeSettings settings = control.nodes().get(n.name());
                conns.put(n, new NodeConnector(5, 30).open("node " + n.name(), settings.url(), settings.passwordEnv()));
            } catch (IbexException e) {
                errors.put(n, Redactor.text(Redactor.firstLine(e.getMessage())));
            }
        }
        return conns;
    }

    private RowTrace.LastRound lastRound(String sync) {
        return new RoundHistory(control.dsl()).last(sync).map(r -> new RowTrace.LastRound(r.getStartedAt().toInstant().toString(),
                RoundOutcome.of(r.getOutcome()), r.getRowsRead(), r.getConflicts(), r.getError())).orElse(null);
    }

    private static TableSettings member(SyncSettings s, TableRef table) {
        return s.tables().stream().filter(x -> x.table().equals(table)).findFirst().orElseThrow(() -> new UsageException(
                "table " + table + " is not in sync " + s.name() + "; its tables: "
                        + s.tables().stream().map(x -> x.table().toString()).collect(Collectors.joining(", "))));
    }

    /** The key's values as the nodes compare them (cast to each column's type and back), or a usage error naming the column. */
    private static List<String> canonical(Connection c, TableShape shape, List<String> values) {
        String cols = IntStream.range(0, shape.key().size())
                .mapToObj(i -> ShapeSql.keyText(shape, "k.k" + i + "::" + shape.typeOf(shape.key().get(i)), shape.key().get(i)))
                .collect(Collectors.joining(", "));
        try (PreparedStatement ps = c.prepareStatement(new ShapeSql(shape).render("select " + cols + " from {key_arrays}"))) {
            bindKey(c, ps, values);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                List<String> out = new ArrayList<>();
                for (int i = 1; i <= values.size(); i++) {
                    out.add(rs.getString(i));
                }
                return out;
            }
        } catch (SQLException e) {
            if (e.getSQLState() != null && e.getSQLState().startsWith("22")) {
                throw new UsageException("key " + values + " does not fit the key columns of " + shape.table() + " ("
                        + TraceKey.describe(shape) + "): " + Redactor.firstLine(e.getMessage()), e);
            }
            throw new IbexException("table " + shape.table() + ": reading the key: " + Redactor.firstLine(e.getMessage()), e);
        }
    }

    private static void bindKey(Connection c, PreparedStatement ps, List<String> values) throws SQLException {
        for (int i = 0; i < values.size(); i++) {
            ps.setArray(i + 1, c.createArrayOf("text", new Object[] {values.get(i)}));
        }
    }

    private static Read read(SyncSettings s, NodeId n, Connection c, TableShape shape, List<String> key) throws SQLException {
        String ledger = shape.table().ledgerName();
        try (PreparedStatement ps = c.prepareStatement(new ShapeSql(shape).render(READ))) {
            bindKey(c, ps, key);
            ps.setString(key.size() + 1, ledger);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                Map<String, String> row = row(shape, rs.getArray(1));
                RowTrace.Ledger entry = null;
                TxId fold = null;
                Array vv = rs.getArray(2);
                if (vv != null) {
                    VersionVector v = VersionVector.ofBoxed((Long[]) vv.getArray()).bump(n.ordinal(), rs.getLong(3));
                    int origin = rs.getInt(5);
                    String originName = rs.wasNull() ? null : name(s, origin);
                    String txid = rs.getString(6);
                    fold = txid == null ? null : TxId.parse(txid);
                    entry = new RowTrace.Ledger(named(s, v), Arrays.stream(v.toArray()).boxed().toList(), originName,
                            time(rs.getObject(4, OffsetDateTime.class)), txid);
                }
                return new Read(n, row, entry, rs.getLong(7), time(rs.getObject(8, OffsetDateTime.class)), fold,
                        WatermarkStore.of(c, ledger));
            }
        }
    }

    private static Map<String, String> row(TableShape shape, Array cols) throws SQLException {
        if (cols == null) {
            return null;
        }
        String[] values = (String[]) cols.getArray();
        Map<String, String> row = new LinkedHashMap<>();
        for (int i = 0; i < values.length && i < shape.columns().size(); i++) {
            row.put(shape.columnNames().get(i), values[i]);
        }
        return row;
    }

    /** The node's trace; what it owes the others is read from their watermarks for it. */
    private static RowTrace.NodeTrace node(NodeId n, List<Read> reads, Map<NodeId, String> errors, boolean reachable) {
        Read r = reads.stream().filter(x -> x.node().equals(n)).findFirst().orElse(null);
        if (r == null) {
            return new RowTrace.NodeTrace(n.name(), reachable, errors.get(n), RowTrace.UNKNOWN, null, null, RowTrace.Pending.NONE);
        }
        List<String> notYetOn = new ArrayList<>();
        List<String> unknownOn = new ArrayList<>();
        if (r.foldTxid() != null) {
            for (NodeId other : errors.keySet()) {
                unknownOn.add(other.name());
            }
            for (Read o : reads) {
                if (!o.node().equals(n) && r.foldTxid().compareTo(o.watermarks().getOrDefault(n.name(), TxId.ZERO)) >= 0) {
                    notYetOn.add(o.node().name());
                }
            }
        }
        String state = r.row() != null ? RowTrace.PRESENT : r.ledger() != null ? RowTrace.DELETED : RowTrace.ABSENT;
        return new RowTrace.NodeTrace(n.name(), true, null, state, r.row(), r.ledger(),
                new RowTrace.Pending(r.unfolded(), r.newestUnfolded(), notYetOn, unknownOn));
    }

    /** The version's counters by node name, in ordinal order, nodes with no change left out. */
    private static Map<String, Long> named(SyncSettings s, VersionVector v) {
        Map<String, Long> out = new LinkedHashMap<>();
        for (int i = 1; i <= v.length(); i++) {
            if (v.counter(i) != 0) {
                out.put(name(s, i), v.counter(i));
            }
        }
        return out;
    }

    /** The node of the sync with this ordinal, or {@code #N} for a node that has left it. */
    private static String name(SyncSettings s, int ordinal) {
        return s.nodes().stream().filter(x -> x.ordinal() == ordinal).map(NodeId::name).findFirst().orElse("#" + ordinal);
    }

    private static String time(OffsetDateTime t) {
        return t == null ? null : t.toInstant().toString();
    }

    private static void close(Connection c) {
        try {
            c.close();
        } catch (SQLException ignored) {
            // a read-only session: nothing to lose
        }
    }
}
