package dev.ibex.engine.status;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ibex.conflict.NodeId;
import dev.ibex.engine.capture.TableInspector;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.db.Idents;
import dev.ibex.engine.capture.ShapeSql;
import dev.ibex.engine.round.RoundOutcome;
import dev.ibex.engine.window.TxId;
import dev.ibex.engine.window.WatermarkStore;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.journal.RoundHistory;
import dev.ibex.schema.control.jooq.tables.records.RoundRecord;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the status of syncs from the control database and from every node: pending changes are
 * counted from each source's ledger against the oldest watermark that the other reachable nodes
 * hold for it, so the figure is what the nodes say, not what the engine believes.
 */
public final class StatusReader {
    private static final ObjectMapper JSON = new ObjectMapper();
    /**
     * One table on one node: changes some other node lacks (ledger entries at or after the oldest
     * watermark, and log entries not folded yet), the age of the oldest of them, the ledger's entries,
     * and the bytes of the ledger and the log. Parameters: the ledger's name, the oldest watermark.
     */
    private static final String TABLE_STATUS = """
            with c as (select fold_snapshot from ibex.capture where ledger_name = ?),
            p as (select pg_catalog.age(pg_catalog.xid(pg_catalog.pg_snapshot_xmax(c.fold_snapshot))) as ax,
                         array(select pg_catalog.xid(x) from pg_catalog.pg_snapshot_xip(c.fold_snapshot) x) as xip from c),
            lg as (select count(*) filter (where ibex_txid >= ?::xid8) as n,
                          min(ibex_ts) filter (where ibex_txid >= ?::xid8) as oldest, count(*) as entries from {ledger}),
            un as (select count(*) as n, min(e.ibex_ts) as oldest
                     from (select xmin, ibex_ts from {log0} union all select xmin, ibex_ts from {log1}) e, p
                    where pg_catalog.age(e.xmin) <= p.ax or e.xmin = any(p.xip))
            select lg.n + un.n, extract(epoch from clock_timestamp() - least(lg.oldest, un.oldest))::float8, lg.entries,
                   pg_total_relation_size('{ledger}') + pg_total_relation_size('{log0}') + pg_total_relation_size('{log1}')
              from lg, un, c""";

    private final ControlStore control;
    private final NodeDirectory directory;
    private final Clock clock;
    private final RoundHistory history;
    private final OwnerReader owners;

    public StatusReader(ControlStore control, NodeDirectory directory, Clock clock) {
        this.control = control;
        this.directory = directory;
        this.clock = clock;
        this.history = new RoundHistory(control.dsl());
        this.owners = new OwnerReader(control);
    }

    public List<SyncStatus> all() {
        return control.syncs().all().stream().map(this::read).toList();
    }

    /**
     * Each table's key as the first reachable node has it ({@code primary key (id)}, {@code unique
     * index t_code_key (code)}), in one catalog query; none when no node is reachable or the read fails.
     */
    private static Map<TableRef, String> keySources(SyncSettings s, Map<String, Connection> conns) {
        Map<TableRef, String> out = new HashMap<>();
        if (conns.isEmpty() || s.tables().isEmpty()) {
            return out;
        }
        try {
            TableInspector.inspectAll(conns.values().iterator().next(),
                    s.tables().stream().map(TableSettings::table).toList())
                    .forEach((t, shape) -> shape.filter(x -> !x.key().isEmpty()).ifPresent(x -> out.put(t, x.keySource())));
        } catch (RuntimeException e) {
            // the key is a detail of the status; the nodes' own errors are reported with them
        }
        return out;
    }

    public SyncStatus read(String sync) {
        return read(control.syncs().get(sync));
    }

    private SyncStatus read(SyncSettings s) {
        Map<String, Connection> conns = new LinkedHashMap<>();
        Map<String, String> errors = new HashMap<>();
        for (NodeId n : s.nodes()) {
            try {
                conns.put(n.name(), directory.pool(n.name()).getConnection());
            } catch (SQLException e) {
                errors.put(n.name(), dev.ibex.engine.db.SqlErrors.connectFailure(e));
            } catch (RuntimeException e) {
                errors.put(n.name(), Redactor.text(Redactor.firstLine(e.getMessage())));
            }
        }
        try {
            RoundHistory h = history;
            var state = h.state(s.name());
            Map<String, Long> measured = state.map(x -> skews(x.getNodeReport())).orElse(Map.of());
            List<SyncStatus.NodeStatus> nodes = new ArrayList<>();
            List<String> warnings = new ArrayList<>();
            for (NodeId n : s.nodes()) {
                SyncStatus.NodeStatus ns = node(s, n, conns, errors.get(n.name()), measured.get(n.name()));
                nodes.add(ns);
                if (ns.resyncNeeded() != null) {
                    warnings.add("node " + n.name() + " needs a resync and is left out of rounds: " + ns.resyncNeeded());
                } else if (!ns.reachable()) {
                    warnings.add("node " + n.name() + " is unreachable" + (ns.lastReachedAt() == null ? "" : " since " + ns.lastReachedAt())
                            + (ns.waitingForIt() == null ? "" : "; " + ns.waitingForIt() + " changed key(s) wait for it")
                            + "; it catches up by itself when it is back within the node retention ("
                            + dev.ibex.engine.config.DurationText.format(s.nodeRetention()) + ")");
                }
                if (ns.clockSkewMillis() != null && Math.abs(ns.clockSkewMillis()) > s.maxClockSkew().toMillis()) {
                    warnings.add(String.format(java.util.Locale.ROOT, "node %s's clock is %.1f s %s the engine's (bound %.1f s): "
                            + "'latest' decisions between concurrent changes follow these clocks; synchronise it (NTP)", n.name(),
                            Math.abs(ns.clockSkewMillis()) / 1000.0, ns.clockSkewMillis() < 0 ? "behind" : "ahead of",
                            s.maxClockSkew().toMillis() / 1000.0));
                }
            }
            long open = new dev.ibex.engine.journal.ConflictJournal(control.dsl()).countOpen(s.name());
            if (open > 0) {
                warnings.add(open + " conflict(s) held for an operator: see 'ibex conflicts " + s.name() + " --open'");
            }
            long pending = nodes.stream().mapToLong(SyncStatus.NodeStatus::pending).sum();
            Double lag = nodes.stream().map(SyncStatus.NodeStatus::lagSeconds).filter(x -> x != null).max(Double::compare).orElse(null);
            Map<TableRef, String> keys = keySources(s, conns);
            List<SyncStatus.TableStatus> tables = s.tables().stream().map(t -> new SyncStatus.TableStatus(t.table().toString(),
                    s.strategyFor(t), t.paused(), t.pauseReason(), keys.get(t.table()))).toList();
            OwnerReader.Report owner = owners.read(s.name());
            return new SyncStatus(s.name(), s.paused() ? SyncStatus.PAUSED : SyncStatus.ACTIVE, owner.owner(), s.strategy(), s.interval().toMillis(),
                    nodes, tables, h.last(s.name()).map(StatusReader::lastRound).orElse(null), pending, lag,
                    state.map(x -> x.getLastError()).orElse(null),
                    state.map(x -> x.getLastErrorAt() == null ? null : x.getLastErrorAt().toString()).orElse(null),
                    owner.fenceRejections(), owner.lastFenceRejection(), owner.lastFenceRejectionAt(),
                    open, s.maxClockSkew().toMillis(), warnings);
        } finally {
            conns.values().forEach(c -> {
                try {
                    c.close();
                } catch (SQLException ignored) {
                    // nothing to do
                }
            });
        }
    }

    /** Clock skews the last round measured, by node. */
    private static Map<String, Long> skews(String nodeReport) {
        Map<String, Long> out = new HashMap<>();
        try {
            JSON.readTree(nodeReport).fields().forEachRemaining(e -> {
                JsonNode v = e.getValue().path("clockSkewMillis");
                if (v.isNumber()) {
                    out.put(e.getKey(), v.asLong());
                }
            });
        } catch (Exception ignored) {
            // an unreadable report shows as no measured skew
        }
        return out;
    }

    private SyncStatus.NodeStatus node(SyncSettings s, NodeId n, Map<String, Connection> conns, String error, Long measuredSkew) {
        Connection c = conns.get(n.name());
        String resync = s.resyncNeeded().get(n.name());
        if (c == null) {
            java.time.OffsetDateTime reached = history.lastReached(s.name(), n.name()).orElse(null);
            Long waiting = null;
            String why = error;
            try {
                waiting = waitingFor(s, reached, conns);
            } catch (SQLException e) {
                why = error + "; the changes waiting for it could not be counted: " + Redactor.text(Redactor.firstLine(e.getMessage()));
            }
            return new SyncStatus.NodeStatus(n.name(), n.ordinal(), false, 0, null, null, 0, 0, why,
                    reached == null ? null : reached.toString(), waiting, resync);
        }
        try {
            long pending = 0;
            long ledgerRows = 0;
            long ledgerBytes = 0;
            Double lag = null;
            for (TableSettings t : s.tables()) {
                String from = oldestWatermark(s, n, t, conns);
                try (PreparedStatement ps = c.prepareStatement(new ShapeSql(new TableShape(t.table(), List.of(), List.of("_")))
                        .render(TABLE_STATUS))) {
                    ps.setString(1, t.table().ledgerName());
                    ps.setString(2, from);
                    ps.setString(3, from);
                    try (ResultSet rs = ps.executeQuery()) {
                        if (!rs.next()) {
                            continue;
                        }
                        pending += rs.getLong(1);
                        double l = rs.getDouble(2);
                        if (!rs.wasNull()) {
                            lag = lag == null ? l : Math.max(lag, l);
                        }
                        ledgerRows += rs.getLong(3);
                        ledgerBytes += rs.getLong(4);
                    }
                }
            }
            long skew = measuredSkew != null ? measuredSkew : NodeProbe.probe(n.name(), c, clock).clockSkewMillis();
            return new SyncStatus.NodeStatus(n.name(), n.ordinal(), true, pending, lag, skew, ledgerRows, ledgerBytes, null, null, null,
                    resync);
        } catch (SQLException | RuntimeException e) {
            return new SyncStatus.NodeStatus(n.name(), n.ordinal(), true, 0, null, null, 0, 0,
                    Redactor.text(Redactor.firstLine(e.getMessage())), null, null, resync);
        }
    }

    /**
     * Keys that a reachable node's ledgers show changed since {@code since} (all of them when the
     * node was never reached): what waits for an unreachable node. Null when no node is reachable.
     */
    private static Long waitingFor(SyncSettings s, java.time.OffsetDateTime since, Map<String, Connection> conns) throws SQLException {
        Connection c = conns.values().stream().findFirst().orElse(null);
        if (c == null) {
            return null;
        }
        long n = 0;
        for (TableSettings t : s.tables()) {
            try (PreparedStatement ps = c.prepareStatement("select count(*) from " + Idents.name("ibex", t.table().ledgerName())
                    + " where ibex_ts >= coalesce(?::timestamptz, '-infinity')")) {
                ps.setObject(1, since);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    n += rs.getLong(1);
                }
            }
        }
        return n;
    }

    /** The oldest position of node {@code source} reconciled into any other reachable node. */
    private static String oldestWatermark(SyncSettings s, NodeId source, TableSettings t, Map<String, Connection> conns) throws SQLException {
        TxId min = null;
        for (NodeId other : s.nodes()) {
            Connection c = conns.get(other.name());
            if (other.equals(source) || c == null) {
                continue;
            }
            TxId w = WatermarkStore.of(c, t.table().ledgerName()).getOrDefault(source.name(), TxId.ZERO);
            min = min == null ? w : TxId.min(min, w);
        }
        return (min == null ? TxId.ZERO : min).toString();
    }

    private static SyncStatus.LastRound lastRound(RoundRecord r) {
        Map<String, Long> perNode = new LinkedHashMap<>();
        try {
            JsonNode n = JSON.readTree(r.getNodeReport());
            n.fields().forEachRemaining(e -> perNode.put(e.getKey(), e.getValue().path("applied").asLong()));
        } catch (Exception ignored) {
            // an unreadable report shows as no per-node figures
        }
        return new SyncStatus.LastRound(r.getStartedAt().toString(), Duration.between(r.getStartedAt(), r.getFinishedAt()).toMillis(),
                RoundOutcome.of(r.getOutcome()), r.getRowsRead(), r.getRowsApplied(), r.getConflicts(), perNode, r.getError());
    }

}
