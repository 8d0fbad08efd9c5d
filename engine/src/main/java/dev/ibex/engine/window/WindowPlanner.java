package dev.ibex.engine.window;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where a round reads each source's changes to a table from: the oldest watermark any other node of
 * the round holds for it, so that the one read serves every target. Nodes the round does not reach
 * are left out; their old watermarks bring them back in when they return. Reading a key a target
 * already holds is harmless: rounds decide on current state, and the key decides as equal. Pure.
 */
public final class WindowPlanner {
    private WindowPlanner() {
    }

    /**
     * @param nodes      the nodes of the round
     * @param watermarks per node, per source, the position reconciled into it
     * @return per node as a source, the position to read its changes from
     */
    public static Map<String, TxId> from(List<String> nodes, Map<String, Map<String, TxId>> watermarks) {
        Map<String, TxId> out = new LinkedHashMap<>();
        for (String source : nodes) {
            TxId from = null;
            for (String target : nodes) {
                if (!target.equals(source)) {
                    TxId seen = watermarks.getOrDefault(target, Map.of()).getOrDefault(source, TxId.ZERO);
                    from = from == null ? seen : TxId.min(from, seen);
                }
            }
            out.put(source, from == null ? TxId.ZERO : from);
        }
        return out;
    }
}
