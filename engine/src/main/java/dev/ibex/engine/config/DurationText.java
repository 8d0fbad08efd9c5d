package dev.ibex.engine.config;

import java.time.Duration;

/** Durations as users write them on the command line. */
public final class DurationText {
    private DurationText() {
    }

    /** {@code 30d}, {@code 5s}, {@code 1500ms}: the largest unit that divides the duration exactly. */
    public static String format(Duration d) {
        long ms = d.toMillis();
        if (ms == 0 || ms % 1000 != 0) {
            return ms + "ms";
        }
        long s = ms / 1000;
        if (s % 86_400 == 0) {
            return s / 86_400 + "d";
        }
        if (s % 3600 == 0) {
            return s / 3600 + "h";
        }
        return s % 60 == 0 ? s / 60 + "m" : s + "s";
    }
}
