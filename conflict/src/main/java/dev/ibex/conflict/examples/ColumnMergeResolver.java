package dev.ibex.conflict.examples;

import dev.ibex.conflict.Causality;
import dev.ibex.conflict.Conflict;
import dev.ibex.conflict.ConflictResolver;
import dev.ibex.conflict.LatestResolver;
import dev.ibex.conflict.Resolution;
import dev.ibex.conflict.RowImage;
import dev.ibex.conflict.Side;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * An example {@code custom:} strategy ({@code custom:dev.ibex.conflict.examples.ColumnMergeResolver})
 * that merges concurrent updates column by column, so that edits to different columns of one row
 * all survive.
 *
 * <p>A side changed a column when its value differs from the value in its own base (a side that
 * inserted the row changed every column). Each column takes the value of the side that changed
 * it; when several sides changed it, the one {@link LatestResolver#ORDER} ranks first wins (so
 * equal edits simply agree). A column no side changed keeps its value in the common base: the
 * base that has seen the most, i.e. whose version no other base follows, the first in {@code
 * ORDER} among such. The merged row goes to every node and the latest side is journaled as winner.
 *
 * <p>A delete on any side, or an insert on every side, has no columns to merge: the {@code latest}
 * choice is taken as it is. The merge is exact when one base has seen all the others; a column
 * changed only by a change that the common base has not seen is kept as the common base has it.
 */
public final class ColumnMergeResolver implements ConflictResolver {
    @Override
    public Resolution resolve(Conflict conflict) {
        List<Side> sides = conflict.sides().stream().sorted(LatestResolver.ORDER).toList();
        Side latest = sides.get(0);
        boolean anyDelete = sides.stream().anyMatch(s -> s.image() == null);
        boolean allInserts = sides.stream().allMatch(s -> s.baseImage() == null);
        if (anyDelete || allInserts) {
            return Resolution.take(latest);
        }
        return Resolution.merge(latest, mergeColumns(sides));
    }

    @Override
    public String name() {
        return "column-merge";
    }

    @Override
    public boolean needsBase() {
        return true;
    }

    /**
     * The column-by-column merge of sides that all hold the row, given in {@link
     * LatestResolver#ORDER}; the row has the columns of the first (latest) side's image.
     */
    static RowImage mergeColumns(List<Side> ordered) {
        RowImage latest = ordered.get(0).image();
        RowImage common = commonBase(ordered).baseImage();
        List<String> values = new ArrayList<>();
        for (String column : latest.columns()) {
            Side changer = ordered.stream().filter(s -> changed(s, column)).findFirst().orElse(null);
            RowImage source = changer != null ? changer.image() : has(common, column) ? common : latest;
            values.add(source.get(column));
        }
        return new RowImage(latest.columns(), values);
    }

    /** The side whose base has seen the most: no other base follows it; ties go to the first in ORDER. */
    static Side commonBase(List<Side> sides) {
        return sides.stream()
                .filter(s -> sides.stream().noneMatch(o -> s.baseVersion().compare(o.baseVersion()) == Causality.BEFORE))
                .min(LatestResolver.ORDER)
                .orElseThrow();
    }

    private static boolean changed(Side side, String column) {
        if (!has(side.image(), column)) {
            return false;
        }
        RowImage base = side.baseImage();
        return !has(base, column) || !Objects.equals(base.get(column), side.image().get(column));
    }

    static boolean has(RowImage image, String column) {
        return image != null && image.columns().contains(column);
    }
}
