package dev.ibex.cli;

import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.copy.ProgressListener;
import java.util.HashMap;
import java.util.Map;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/** A progress bar per copied table and target on standard error. */
final class CopyProgress implements ProgressListener, AutoCloseable {
    private final Map<String, ProgressBar> bars = new HashMap<>();
    private final java.util.Set<String> finished = new java.util.HashSet<>();

    @Override
    public void copying(TableRef table, String from, String to, long done, long total) {
        String task = "copy " + table + " " + from + "->" + to;
        if (finished.contains(task)) {
            return;
        }
        ProgressBar bar = bars.computeIfAbsent(task, t -> new ProgressBarBuilder().setTaskName(t).setInitialMax(total)
                .setStyle(ProgressBarStyle.ASCII).setUnit(" rows", 1).continuousUpdate().build());
        bar.stepTo(done);
        if (done >= total) {
            bar.close();
            bars.remove(task);
            finished.add(task);
        }
    }

    @Override
    public void close() {
        bars.values().forEach(ProgressBar::close);
    }
}
