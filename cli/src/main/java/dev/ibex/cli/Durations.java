package dev.ibex.cli;

import dev.ibex.engine.UsageException;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parses durations written as {@code 500ms}, {@code 5s}, {@code 2m}, {@code 1h}, {@code 30d} or
 * ISO-8601, and prints them back in the largest of those units that is exact.
 */
final class Durations {
    private static final Pattern SIMPLE = Pattern.compile("(\\d+)(ms|s|m|h|d)");

    private Durations() {
    }

    static Duration parse(String option, String text) {
        Matcher m = SIMPLE.matcher(text.trim());
        if (m.matches()) {
            long n;
            try {
                n = Long.parseLong(m.group(1));
            } catch (NumberFormatException e) {
                throw new UsageException(option + " '" + text + "' is too large: write e.g. 500ms, 5s, 2m, 1h or 30d", e);
            }
            try {
                return switch (m.group(2)) {
                    case "ms" -> Duration.ofMillis(n);
                    case "s" -> Duration.ofSeconds(n);
                    case "m" -> Duration.ofMinutes(n);
                    case "h" -> Duration.ofHours(n);
                    default -> Duration.ofDays(n);
                };
            } catch (ArithmeticException e) {
                throw new UsageException(option + " '" + text + "' is too large: write e.g. 500ms, 5s, 2m, 1h or 30d", e);
            }
        }
        try {
            return Duration.parse(text.trim());
        } catch (RuntimeException e) {
            throw new UsageException(option + " '" + text + "' is not a duration: write e.g. 500ms, 5s, 2m, 1h or 30d");
        }
    }

    /** Parses a duration that must be longer than zero; {@code example} shows a good value. */
    static Duration positive(String option, String text, String example) {
        Duration d = parse(option, text);
        if (d.isZero() || d.isNegative()) {
            throw new UsageException(option + " '" + text + "' must be positive, e.g. " + example);
        }
        return d;
    }

    /** Parses a duration that may be zero but not negative; {@code example} shows a good value. */
    static Duration notNegative(String option, String text, String example) {
        Duration d = parse(option, text);
        if (d.isNegative()) {
            throw new UsageException(option + " '" + text + "' must not be negative, e.g. " + example);
        }
        return d;
    }

    static String format(Duration d) {
        return dev.ibex.engine.config.DurationText.format(d);
    }
}
