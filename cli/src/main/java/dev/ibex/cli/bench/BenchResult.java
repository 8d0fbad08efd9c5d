package dev.ibex.cli.bench;

import java.util.ArrayList;
import java.util.List;

/**
 * One figure of the bench: its value in each run, their median, min and max, and, where the
 * figure has a baseline measured in the same runs, the median of the per-run ratios to it.
 */
record BenchResult(String name, String unit, List<Double> runs, double median, double min, double max, Double ratio,
                   String ratioTo) {
    static BenchResult of(String name, String unit, List<Double> runs) {
        return new BenchResult(name, unit, List.copyOf(runs), median(runs), runs.stream().mapToDouble(d -> d).min().orElseThrow(),
                runs.stream().mapToDouble(d -> d).max().orElseThrow(), null, null);
    }

    /** This figure with the median of its per-run ratios to {@code baseline} (run i divided by baseline run i). */
    BenchResult relativeTo(BenchResult baseline) {
        List<Double> ratios = new ArrayList<>();
        for (int i = 0; i < runs.size() && i < baseline.runs.size(); i++) {
            ratios.add(runs.get(i) / baseline.runs.get(i));
        }
        return new BenchResult(name, unit, runs, median, min, max, ratios.isEmpty() ? null : median(ratios), baseline.name);
    }

    static double median(List<Double> values) {
        List<Double> s = values.stream().sorted().toList();
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }
}
