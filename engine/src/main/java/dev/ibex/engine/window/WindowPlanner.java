package dev.ibex.engine.window;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Plans the windows of a round for one table. Each reachable source is read from the oldest
 * watermark any reachable target holds for it, up to the source's boundary taken at the start of
 * the round (a snapshot xmin, so no change below it can still commit: no gaps); see {@link Window}
 * for why reading does not stop at the boundary. Re-reading keys a
 * target has already seen is harmless: rounds are state-based and decide each key again.
 * Unreachable targets are left out; their old watermarks bring them back in when they return.
 */
public final class WindowPlanner {
    private WindowPlanner() {
    }

    /**
     * @param boundaries per reachable node, its boundary this round
     * @param watermarks per reachable target, per source, the boundary last reconciled into it
     */
    public static Map<String, Window> plan(Map<String, TxId> boundaries, Map<String, Map<String, TxId>> watermarks) {
        Map<String, Window> out = new LinkedHashMap<>();
        for (Map.Entry<String, TxId> source : boundaries.entrySet()) {
            TxId from = source.getValue();
            for (String target : boundaries.keySet()) {
                if (!target.equals(source.getKey())) {
                    TxId seen = watermarks.getOrDefault(target, Map.of()).getOrDefault(source.getKey(), TxId.ZERO);
                    from = TxId.min(from, seen);
                }
            }
            out.put(source.getKey(), new Window(source.getKey(), from, source.getValue()));
        }
        return out;
    }
}
