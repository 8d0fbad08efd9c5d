package dev.ibex.conflict;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.IntStream;

/**
 * Random sides of one row for property tests: small value pools so that stamps, values, versions
 * and bases often coincide, absent rows (deletes, inserts), pending bases and concurrency.
 */
final class RandomSides {
    static final List<String> COLUMNS = List.of("id", "name", "stock", "price", "note");
    static final NodeId[] NODES = {
        new NodeId("a", 1), new NodeId("b", 2), new NodeId("c", 3), new NodeId("d", 4), new NodeId("e", 5)
    };
    private static final List<List<String>> POOLS = List.of(
            List.of("1"),
            nullable("x", "y", "z"),
            nullable("10", "11", "12", "-3", "0", "2.50", "NaN"),
            nullable("1.5", "2.50", "3"),
            nullable("a", "b"));

    private final Random r;

    RandomSides(Random r) {
        this.r = r;
    }

    /** 2 to 5 sides on distinct nodes, pairwise concurrent, each possibly with a pending base. */
    List<Side> concurrent() {
        int n = 2 + r.nextInt(4);
        List<Integer> own = new ArrayList<>(List.of(1, 2, 3, 4, 5));
        Collections.shuffle(own, r);
        long[][] c = new long[n][5];
        for (long[] counters : c) {
            IntStream.range(0, 5).forEach(j -> counters[j] = r.nextInt(3));
        }
        for (int i = 0; i < n; i++) {
            int j = own.get(i) - 1;
            long others = 0;
            for (int k = 0; k < n; k++) {
                others = k == i ? others : Math.max(others, c[k][j]);
            }
            c[i][j] = others + 1;
        }
        Side.Base shared = new Side.Base(r.nextInt(4) == 0 ? null : row(), version(5, 1));
        List<Side> sides = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            sides.add(side(NODES[i], VersionVector.of(c[i]), shared));
        }
        return sides;
    }

    /** 2 to 5 sides with any versions (equal, dominated or concurrent); one version, one content. */
    List<Side> general() {
        int n = 2 + r.nextInt(4);
        Map<VersionVector, Side> byVersion = new HashMap<>();
        List<Side> sides = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            NodeId node = NODES[i];
            Side t = byVersion.computeIfAbsent(version(3, 2), v -> side(node, v, null));
            NodeId origin = t.origin() != null ? t.origin() : t.node();
            sides.add(new Side(node, t.version(), t.stampMicros(), origin, t.image(), t.pendingBase()));
        }
        return sides;
    }

    /** A side on {@code node} at {@code version}; {@code shared} is its base when it fits and a coin says so. */
    Side side(NodeId node, VersionVector version, Side.Base shared) {
        long stamp = r.nextInt(4);
        NodeId origin = r.nextInt(3) == 0 ? null : NODES[r.nextInt(NODES.length)];
        if (r.nextInt(10) < 3) {
            return new Side(node, version, stamp, origin, r.nextInt(6) == 0 ? null : row());
        }
        Side.Base base = shared != null && r.nextBoolean() && version.dominates(shared.version())
                ? shared
                : new Side.Base(r.nextInt(5) == 0 ? null : row(), below(version));
        RowImage image = r.nextInt(6) == 0 ? null : base.image() == null ? row() : edit(base.image());
        return new Side(node, version, stamp, origin, image, base);
    }

    RowImage row() {
        List<String> values = new ArrayList<>();
        for (List<String> pool : POOLS) {
            values.add(pool.get(r.nextInt(pool.size())));
        }
        return new RowImage(COLUMNS, values);
    }

    /** {@code row} with a number in place of a {@code NaN} stock, so that every counter counts. */
    RowImage countable(RowImage row) {
        return "NaN".equals(row.get("stock")) ? row.with("stock", Integer.toString(r.nextInt(20) - 5)) : row;
    }

    /** {@code base} with some non-key columns set to random values (possibly the same ones). */
    RowImage edit(RowImage base) {
        RowImage out = base;
        for (int i = 1; i < COLUMNS.size(); i++) {
            if (r.nextInt(5) < 2) {
                List<String> pool = POOLS.get(i);
                out = out.with(COLUMNS.get(i), pool.get(r.nextInt(pool.size())));
            }
        }
        return out;
    }

    VersionVector version(int width, int max) {
        long[] c = new long[width];
        IntStream.range(0, width).forEach(j -> c[j] = r.nextInt(max + 1));
        return VersionVector.of(c);
    }

    /** A random version that {@code v} dominates. */
    VersionVector below(VersionVector v) {
        long[] c = v.toArray();
        IntStream.range(0, c.length).forEach(j -> c[j] = r.nextInt((int) c[j] + 1));
        return VersionVector.of(c);
    }

    private static List<String> nullable(String... values) {
        List<String> out = new ArrayList<>(List.of(values));
        out.add(null);
        return out;
    }
}
