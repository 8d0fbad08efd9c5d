package dev.ibex.conflict.examples;

import dev.ibex.conflict.Conflict;
import dev.ibex.conflict.ConflictResolver;
import dev.ibex.conflict.LatestResolver;
import dev.ibex.conflict.Resolution;
import dev.ibex.conflict.RowImage;
import dev.ibex.conflict.Side;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * An example {@code custom:} strategy that keeps counters right under concurrent increments:
 * {@code custom:dev.ibex.conflict.examples.CounterDeltaResolver:stock,sold}.
 *
 * <p>Each listed counter column ends as the common base's value plus every side's own delta (its
 * value minus its base's value), so +1 on one node and +2 on another add up to +3. The common
 * base is the one {@link ColumnMergeResolver} uses; every other column is merged as it merges
 * them. Arithmetic is exact ({@link BigDecimal}, the result keeps the largest scale of its
 * inputs, e.g. {@code 2.50}); NULL counts as 0, and stays NULL when every input is NULL.
 *
 * <p>A delete on any side, or an insert on any side (no base to take a delta from), falls back to
 * the {@code latest} choice. A counter column missing from an image, or holding something other
 * than a plain decimal ({@code NaN}, {@code Infinity}, an exponent), is left to the column merge.
 */
public final class CounterDeltaResolver implements ConflictResolver {
    private static final Pattern PLAIN_DECIMAL = Pattern.compile("-?\\d+(\\.\\d+)?");

    private final List<String> counters;

    /** @param counters the counter columns, comma-separated, e.g. {@code stock,sold} */
    public CounterDeltaResolver(String counters) {
        if (counters == null || counters.isBlank()) {
            throw new IllegalArgumentException("counter-delta needs its counter columns, comma-separated (e.g. stock,sold)");
        }
        List<String> names = Arrays.stream(counters.split(",", -1)).map(String::trim).toList();
        if (names.contains("")) {
            throw new IllegalArgumentException("counter-delta: empty column name in '" + counters + "'");
        }
        if (new HashSet<>(names).size() != names.size()) {
            throw new IllegalArgumentException("counter-delta: a column is listed twice in '" + counters + "'");
        }
        this.counters = names;
    }

    @Override
    public Resolution resolve(Conflict conflict) {
        List<Side> sides = conflict.sides().stream().sorted(LatestResolver.ORDER).toList();
        Side latest = sides.get(0);
        if (sides.stream().anyMatch(s -> s.image() == null || s.baseImage() == null)) {
            return Resolution.take(latest);
        }
        RowImage merged = ColumnMergeResolver.mergeColumns(sides);
        RowImage common = ColumnMergeResolver.commonBase(sides).baseImage();
        List<String> values = new ArrayList<>(merged.values());
        for (String counter : counters) {
            int i = merged.columns().indexOf(counter);
            if (i >= 0 && countable(counter, common, sides)) {
                values.set(i, sum(counter, common, sides));
            }
        }
        return Resolution.merge(latest, new RowImage(merged.columns(), values));
    }

    @Override
    public String name() {
        return "counter-delta";
    }

    @Override
    public boolean needsBase() {
        return true;
    }

    /** The common base and every side's image and base: all hold the column, as NULL or a decimal. */
    private static boolean countable(String column, RowImage common, List<Side> sides) {
        return inputs(common, sides).allMatch(image -> ColumnMergeResolver.has(image, column)
                && (image.get(column) == null || PLAIN_DECIMAL.matcher(image.get(column)).matches()));
    }

    /** Common base + the sum of (image - base) over the sides; NULL when every input is NULL. */
    private static String sum(String column, RowImage common, List<Side> sides) {
        if (inputs(common, sides).allMatch(image -> image.get(column) == null)) {
            return null;
        }
        BigDecimal total = decimal(common.get(column));
        for (Side s : sides) {
            total = total.add(decimal(s.image().get(column))).subtract(decimal(s.baseImage().get(column)));
        }
        return total.toPlainString();
    }

    private static Stream<RowImage> inputs(RowImage common, List<Side> sides) {
        return Stream.concat(Stream.of(common), sides.stream().flatMap(s -> Stream.of(s.image(), s.baseImage())));
    }

    private static BigDecimal decimal(String text) {
        return text == null ? BigDecimal.ZERO : new BigDecimal(text);
    }
}
