package dev.ibex.engine.metrics;

import dev.ibex.engine.status.SyncStatus;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Gauges of the nodes and tables of every sync, read at scrape time from what {@code ibex status}
 * reads ({@link dev.ibex.engine.status.StatusReader}, through a {@link CachedReading}): reachable,
 * pending keys, lag, clock skew and ledger entries per node; paused per table. A node that is
 * unreachable (or whose figures could not be read) shows only {@code ibex_node_reachable}: its
 * other figures are unknown, not zero. When the status cannot be read at all (the control database
 * is down) these families have no samples; a read that does not answer within its bound leaves
 * the previous reading in place.
 */
final class NodeMetrics implements MultiCollector {
    private final Supplier<CachedReading.Reading<List<SyncStatus>>> status;

    NodeMetrics(Supplier<CachedReading.Reading<List<SyncStatus>>> status) {
        this.status = status;
    }

    @Override
    public MetricSnapshots collect() {
        CachedReading.Reading<List<SyncStatus>> r = status.get();
        List<SyncStatus> syncs = r.value() == null ? List.of() : r.value();
        Gauges reachable = new Gauges("ibex_node_reachable", "1 when the node answered the last status read, else 0");
        Gauges pending = new Gauges("ibex_pending_keys", "Changed keys on the node that some other node has not reconciled yet");
        Gauges lag = new Gauges("ibex_lag_seconds", "Age of the node's oldest change not reconciled everywhere (0: none pending)");
        Gauges skew = new Gauges("ibex_clock_skew_seconds", "The node's clock minus the engine's, as the last round measured it");
        Gauges ledger = new Gauges("ibex_ledger_rows", "Entries in the node's ledgers, all tables of the sync");
        Gauges paused = new Gauges("ibex_table_paused", "1 when the table is paused (by an operator or after an error), else 0");
        for (SyncStatus s : syncs) {
            for (SyncStatus.NodeStatus n : s.nodes()) {
                Labels l = Labels.of("sync", s.sync(), "node", n.node());
                reachable.add(l, n.reachable() ? 1 : 0);
                if (!n.reachable() || n.error() != null) {
                    continue;
                }
                pending.add(l, n.pending());
                lag.add(l, n.lagSeconds() == null ? 0 : n.lagSeconds());
                if (n.clockSkewMillis() != null) {
                    skew.add(l, n.clockSkewMillis() / 1000.0);
                }
                ledger.add(l, n.ledgerRows());
            }
            for (SyncStatus.TableStatus t : s.tables()) {
                paused.add(Labels.of("sync", s.sync(), "table", t.table()), t.paused() ? 1 : 0);
            }
        }
        return MetricSnapshots.of(reachable.build(), pending.build(), lag.build(), skew.build(), ledger.build(), paused.build());
    }

    @Override
    public List<String> getPrometheusNames() {
        return List.of("ibex_node_reachable", "ibex_pending_keys", "ibex_lag_seconds", "ibex_clock_skew_seconds", "ibex_ledger_rows",
                "ibex_table_paused");
    }

    /** One gauge family being filled. */
    private static final class Gauges {
        private final GaugeSnapshot.Builder family;
        private final List<GaugeSnapshot.GaugeDataPointSnapshot> points = new ArrayList<>();

        Gauges(String name, String help) {
            this.family = GaugeSnapshot.builder().name(name).help(help);
        }

        void add(Labels labels, double value) {
            points.add(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(labels).value(value).build());
        }

        GaugeSnapshot build() {
            points.forEach(family::dataPoint);
            return family.build();
        }
    }
}
