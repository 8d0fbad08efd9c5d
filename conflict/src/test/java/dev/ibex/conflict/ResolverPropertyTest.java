package dev.ibex.conflict;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.conflict.examples.ColumnMergeResolver;
import dev.ibex.conflict.examples.CounterDeltaResolver;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * Property: every strategy, and the decider around it, gives the same outcome for the same sides
 * in every order. Seeded; {@code -Dibex.seed=N} replays another seed, and every failure names the
 * seed and the case.
 */
class ResolverPropertyTest {
    private static final long SEED = Long.getLong("ibex.seed", 20_240_611L);
    private static final int CASES = 2_000;
    private static final String TABLE = "s.t";
    private static final List<String> KEY = List.of("1");

    /** What a resolution amounts to, comparable across runs. */
    record Outcome(String winner, VersionVector winnerVersion, RowImage image, boolean merged, boolean held) {
        static Outcome of(Resolution r) {
            return new Outcome(r.winner().node().name(), r.winner().version(), r.image(), r.merged(), r.held());
        }
    }

    /** What a decision amounts to, including the sides it reports and the ones it rewrites. */
    record Verdict(Outcome outcome, VersionVector version, String strategy, List<String> conflictSides, List<String> stale) {
        static Verdict of(Decision d, List<Side> sides) {
            Outcome o = new Outcome(d.winner().node().name(), d.winner().version(), d.image(), d.merged(), d.held());
            List<String> reported = d.conflicted() ? d.conflict().sides().stream().map(s -> s.node().name()).toList() : null;
            return new Verdict(o, d.version(), d.strategy(), reported, names(d.stale(sides)));
        }
    }

    @Test
    void everyResolverIgnoresTheOrderOfSides() {
        Random r = new Random(SEED);
        TreeMap<String, Integer> kinds = new TreeMap<>();
        int orders = 0;
        for (int n = 0; n < CASES; n++) {
            RandomSides gen = new RandomSides(r);
            List<Side> sides = gen.concurrent();
            Conflict conflict = new Conflict(TABLE, KEY, sides);
            for (ConflictResolver resolver : resolvers(r, gen, sides)) {
                Supplier<String> where = where(n, resolver, sides);
                Outcome first = Outcome.of(resolver.resolve(conflict));
                checkShape(resolver.resolve(conflict), sides, where);
                for (List<Side> order : permutations(sides)) {
                    assertEquals(first, Outcome.of(resolver.resolve(new Conflict(TABLE, KEY, order))), where);
                    orders++;
                }
                kinds.merge(resolver.name() + (first.held() ? ":hold" : first.merged() ? ":merge" : ":take"), 1, Integer::sum);
            }
        }
        assertTrue(orders >= CASES * 6 * 2, "orders checked: " + orders);
        for (String kind : List.of("manual:hold", "manual:merge", "manual:take", "column-merge:merge", "column-merge:take",
                "counter-delta:merge", "counter-delta:take")) {
            assertTrue(kinds.containsKey(kind), "seed " + SEED + " never produced " + kind + ": " + kinds);
        }
    }

    @Test
    void theDeciderIgnoresTheOrderOfSidesAndJoinsEveryVersion() {
        Random r = new Random(SEED + 1);
        for (int n = 0; n < CASES; n++) {
            RandomSides gen = new RandomSides(r);
            List<Side> sides = gen.general();
            for (ConflictResolver resolver : resolvers(r, gen, sides)) {
                Supplier<String> where = where(n, resolver, sides);
                Decision d = Decider.decide(TABLE, KEY, sides, resolver);
                VersionVector joined = sides.stream().map(Side::version).reduce(VersionVector.EMPTY, VersionVector::join);
                assertEquals(joined, d.version(), where);
                Verdict first = Verdict.of(d, sides);
                for (List<Side> order : permutations(sides)) {
                    assertEquals(first, Verdict.of(Decider.decide(TABLE, KEY, order, resolver), sides), where);
                }
            }
        }
    }

    @Test
    void aSideThatHasSeenAllOthersWinsWithoutConflictThoughItsStampIsTheEarliest() {
        Random r = new Random(SEED + 2);
        for (int n = 0; n < CASES; n++) {
            RandomSides gen = new RandomSides(r);
            List<Side> others = gen.general();
            List<Side> sides = new ArrayList<>(others.subList(0, 1 + r.nextInt(Math.min(4, others.size())))
                    .stream().map(s -> stamped(s, s.stampMicros() + 1)).toList());
            VersionVector joined = sides.stream().map(Side::version).reduce(VersionVector.EMPTY, VersionVector::join);
            Side dominant = stamped(gen.side(RandomSides.NODES[sides.size()], joined.bump(1 + r.nextInt(5)), null), 0);
            sides.add(r.nextInt(sides.size() + 1), dominant);
            for (ConflictResolver resolver : resolvers(r, gen, sides)) {
                Supplier<String> where = where(n, resolver, sides);
                for (List<Side> order : permutations(sides)) {
                    Decision d = Decider.decide(TABLE, KEY, order, resolver);
                    assertFalse(d.conflicted(), where);
                    assertFalse(d.held() || d.merged(), where);
                    assertEquals(dominant, d.winner(), where);
                    assertEquals(dominant.image(), d.image(), where);
                    assertEquals(dominant.version(), d.version(), where);
                    assertFalse(d.stale(order).contains(dominant), where);
                }
            }
        }
    }

    @Test
    void withOneSharedBaseTheExamplesMergeEachColumnThreeWaysAndAddEveryDelta() {
        Random r = new Random(SEED + 3);
        for (int n = 0; n < CASES; n++) {
            RandomSides gen = new RandomSides(r);
            Side.Base base = new Side.Base(gen.countable(gen.row()), VersionVector.EMPTY);
            List<Side> sides = gen.concurrent().stream().map(s -> new Side(s.node(), s.version(), s.stampMicros(), s.origin(),
                    gen.countable(gen.edit(base.image())), base)).toList();
            List<Side> ordered = sides.stream().sorted(LatestResolver.ORDER).toList();
            Conflict conflict = new Conflict(TABLE, KEY, sides);
            Resolution merged = new ColumnMergeResolver().resolve(conflict);
            Resolution counted = new CounterDeltaResolver("stock,price").resolve(conflict);
            Supplier<String> where = where(n, new ColumnMergeResolver(), sides);
            assertTrue(merged.merged() && counted.merged(), where);
            assertEquals(ordered.get(0), merged.winner(), where);
            for (String column : RandomSides.COLUMNS) {
                String before = base.image().get(column);
                List<String> edits = ordered.stream().map(s -> s.image().get(column)).filter(v -> !Objects.equals(v, before)).toList();
                String expected = edits.isEmpty() ? before : edits.get(0);
                assertEquals(expected, merged.image().get(column), where);
                boolean counter = column.equals("stock") || column.equals("price");
                assertEquals(counter ? total(column, base.image(), sides) : expected, counted.image().get(column), where);
            }
        }
    }

    /** The base's counter plus every side's delta; NULL counts as 0 unless all are NULL. */
    private static String total(String column, RowImage base, List<Side> sides) {
        if (base.get(column) == null && sides.stream().allMatch(s -> s.image().get(column) == null)) {
            return null;
        }
        BigDecimal before = decimal(base.get(column));
        BigDecimal total = before;
        for (Side s : sides) {
            total = total.add(decimal(s.image().get(column)).subtract(before));
        }
        return total.toPlainString();
    }

    private static BigDecimal decimal(String text) {
        return text == null ? BigDecimal.ZERO : new BigDecimal(text);
    }

    private static Side stamped(Side s, long stampMicros) {
        return new Side(s.node(), s.version(), stampMicros, s.origin(), s.image(), s.pendingBase());
    }

    /** Every strategy, with random settings: priority order, manual choices that cover or not. */
    private static List<ConflictResolver> resolvers(Random r, RandomSides gen, List<Side> sides) {
        List<String> priority = new ArrayList<>(Arrays.stream(RandomSides.NODES).map(NodeId::name).toList());
        Collections.shuffle(priority, r);
        priority = priority.subList(0, r.nextInt(priority.size() + 1));
        VersionVector seen = sides.stream().map(Side::version).reduce(VersionVector.EMPTY, VersionVector::join);
        VersionVector covers = r.nextBoolean() ? seen : gen.below(seen);
        ManualResolver.Choice choice = new ManualResolver.Choice(r.nextInt(4) == 0 ? null : gen.row(), covers);
        return List.of(
                new LatestResolver(),
                new SourcePriorityResolver(priority),
                new ManualResolver((table, key) -> null),
                new ManualResolver((table, key) -> TABLE.equals(table) && KEY.equals(key) ? choice : null),
                new ColumnMergeResolver(),
                new CounterDeltaResolver("stock,price"));
    }

    /** The contract's shape: the winner is one of the sides; a merged row keeps the columns and key. */
    private static void checkShape(Resolution res, List<Side> sides, Supplier<String> where) {
        assertTrue(sides.contains(res.winner()), where);
        if (!res.merged()) {
            assertEquals(res.winner().image(), res.image(), where);
        } else if (res.image() != null) {
            assertEquals(RandomSides.COLUMNS, res.image().columns(), where);
            assertEquals("1", res.image().get("id"), where);
        }
    }

    static <T> List<List<T>> permutations(List<T> items) {
        if (items.size() <= 1) {
            return List.of(items);
        }
        List<List<T>> out = new ArrayList<>();
        for (int i = 0; i < items.size(); i++) {
            List<T> rest = new ArrayList<>(items);
            T head = rest.remove(i);
            for (List<T> tail : permutations(rest)) {
                List<T> p = new ArrayList<>(List.of(head));
                p.addAll(tail);
                out.add(p);
            }
        }
        return out;
    }

    private static List<String> names(List<Side> sides) {
        return sides.stream().map(s -> s.node().name()).sorted().toList();
    }

    private static Supplier<String> where(int n, ConflictResolver resolver, List<Side> sides) {
        return () -> "seed " + SEED + ", case " + n + ", " + resolver.name() + ", sides " + sides;
    }
}
