package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Who wrote each key of a table and what each node last wrote there: the part of the model that
 * holds whatever happened around the writes (rounds, engine crashes, node outages, network cuts).
 * Invariant 2 for it: a key written on one node only ends, on every node, with that node's last
 * value (null: deleted). Shared by the randomized history and chaos tests. Thread-safe.
 */
final class WriteLog {
    private final Map<Integer, Set<String>> writers = new HashMap<>();
    private final Map<String, Map<Integer, String>> last = new HashMap<>();
    private long writes;

    /** Records a committed write of {@code value} (null: a delete) to {@code key} on {@code node}. */
    synchronized void wrote(String node, int key, String value) {
        writers.computeIfAbsent(key, k -> new HashSet<>()).add(node);
        last.computeIfAbsent(node, n -> new HashMap<>()).put(key, value);
        writes++;
    }

    /** What {@code node} last wrote to {@code key}: null if it deleted it or never wrote it. */
    synchronized String last(String node, int key) {
        return last.getOrDefault(node, Map.of()).get(key);
    }

    synchronized long writes() {
        return writes;
    }

    /** The keys written on one node only, each with that node's last value (null: deleted). */
    synchronized Map<Integer, String> soleWriterValues() {
        Map<Integer, String> out = new HashMap<>();
        for (Map.Entry<Integer, Set<String>> w : writers.entrySet()) {
            if (w.getValue().size() == 1) {
                out.put(w.getKey(), last.get(w.getValue().iterator().next()).get(w.getKey()));
            }
        }
        return out;
    }

    synchronized String soleWriter(int key) {
        Set<String> w = writers.get(key);
        return w != null && w.size() == 1 ? w.iterator().next() : null;
    }

    /**
     * Asserts that every key written on one node only holds, on every node, that node's last value,
     * read with {@code selectValue} (one text column, the key as its parameter); returns how many
     * keys it checked.
     */
    int assertSoleWriterRows(Cluster cluster, List<String> nodes, String selectValue, String context) {
        Map<Integer, String> expected = soleWriterValues();
        for (String n : nodes) {
            Map<Integer, String> actual = new HashMap<>();
            for (Integer k : expected.keySet()) {
                List<List<String>> row = cluster.rows(n, selectValue, k);
                actual.put(k, row.isEmpty() ? null : row.get(0).get(0));
            }
            for (Map.Entry<Integer, String> e : expected.entrySet()) {
                assertEquals(e.getValue(), actual.get(e.getKey()), context + ": key " + e.getKey() + " was written on "
                        + soleWriter(e.getKey()) + " only; node " + n + " must hold its last value");
            }
        }
        return expected.size();
    }
}
