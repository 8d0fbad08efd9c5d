package dev.ibex.engine.metrics;

import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.round.NodeRound;
import dev.ibex.engine.round.RoundObserver;
import dev.ibex.engine.round.RoundOutcome;
import dev.ibex.engine.round.RoundReport;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * Counters of the rounds this engine process ran: rounds by outcome, their durations, rows
 * applied per target node, conflicts per table and strategy. They count from zero when the
 * process starts (Prometheus' {@code rate} and {@code increase} handle the reset); another engine
 * of a cluster counts the rounds it runs itself.
 */
final class RoundMetrics implements RoundObserver {
    /** The outcome label of a round an exception ended, beside the report's own {@link RoundOutcome}s. */
    static final String ERROR = "error";
    /** A round's outcome: the report's {@code ok}, {@code partial}, {@code failed}, or {@value #ERROR}. */
    static final List<String> OUTCOMES = Stream.concat(Arrays.stream(RoundOutcome.values()).map(RoundOutcome::label), Stream.of(ERROR))
            .toList();

    private final Counter rounds;
    private final Histogram duration;
    private final Counter rowsApplied;
    private final Counter conflicts;
    private final Set<String> seen = ConcurrentHashMap.newKeySet();

    RoundMetrics(PrometheusRegistry registry) {
        rounds = Counter.builder().name("ibex_rounds_total").help("Rounds this engine ran, by outcome")
                .labelNames("sync", "outcome").register(registry);
        duration = Histogram.builder().name("ibex_round_duration_seconds").help("How long the rounds this engine ran took")
                .labelNames("sync").classicOnly()
                .classicUpperBounds(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
                .register(registry);
        rowsApplied = Counter.builder().name("ibex_rows_applied_total").help("Rows the rounds of this engine wrote to each node")
                .labelNames("sync", "node").register(registry);
        conflicts = Counter.builder().name("ibex_conflicts_total")
                .help("Conflicts the rounds of this engine journaled, by table and the strategy that decided them")
                .labelNames("sync", "table", "strategy").register(registry);
    }

    @Override
    public void conflicts(String sync, TableRef table, String strategy, long count) {
        conflicts.labelValues(sync, table.toString(), strategy).inc(count);
    }

    @Override
    public void finished(RoundReport report) {
        count(report.sync(), report.outcome().label(), report.duration());
        for (NodeRound n : report.nodes().values()) {
            rowsApplied.labelValues(report.sync(), n.node()).inc(n.applied());
        }
    }

    @Override
    public void failed(String sync, Duration took) {
        count(sync, ERROR, took);
    }

    private void count(String sync, String outcome, Duration took) {
        if (seen.add(sync)) {
            // every outcome shows from the first round on, at zero, so that increase() sees the first failure
            OUTCOMES.forEach(o -> rounds.labelValues(sync, o));
        }
        rounds.labelValues(sync, outcome).inc();
        duration.labelValues(sync).observe(took.toNanos() / 1e9);
    }
}
