package dev.ibex.launch;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a JVM's {@code -Xlog:gc} output: every collection logs the heap used before and after it
 * and the heap's committed size ({@code 41M->12M(64M)}). The largest "before" is the highest the
 * heap filled (garbage included: a collector lets it fill before collecting); the largest
 * "after" is the highest the heap stayed after collecting, an upper bound of the live data (a
 * young collection leaves old garbage in place); the largest "after" of a full collection (such as
 * the one a heap histogram runs first) is the live data at that moment.
 */
final class GcLog {
    private static final Pattern SIZES = Pattern.compile("(\\d+)([BKMG])->(\\d+)([BKMG])\\((\\d+)([BKMG])\\)");

    /** Peaks in bytes (live: 0 when no full collection ran), and how many collections logged them. */
    record Peak(long before, long after, long live, long committed, int collections, int full) {
        @Override
        public String toString() {
            return "peak used " + mb(before) + " MB (before a collection), peak after a collection " + mb(after)
                    + " MB, live after a full collection " + mb(live) + " MB, committed up to " + mb(committed) + " MB, "
                    + collections + " collections (" + full + " full)";
        }

        private static String mb(long bytes) {
            return String.format(java.util.Locale.ROOT, "%.1f", bytes / 1048576.0);
        }
    }

    private GcLog() {
    }

    static Peak peak(String log) {
        long before = 0;
        long after = 0;
        long live = 0;
        long committed = 0;
        int collections = 0;
        int full = 0;
        for (String line : log.split("\n")) {
            Matcher m = SIZES.matcher(line);
            if (m.find()) {
                before = Math.max(before, bytes(m.group(1), m.group(2)));
                long a = bytes(m.group(3), m.group(4));
                after = Math.max(after, a);
                boolean isFull = line.contains("Pause Full");
                live = isFull ? Math.max(live, a) : live;
                full += isFull ? 1 : 0;
                committed = Math.max(committed, bytes(m.group(5), m.group(6)));
                collections++;
            }
        }
        return new Peak(before, after, live, committed, collections, full);
    }

    private static long bytes(String value, String unit) {
        long v = Long.parseLong(value);
        return switch (unit) {
            case "G" -> v << 30;
            case "M" -> v << 20;
            case "K" -> v << 10;
            default -> v;
        };
    }
}
