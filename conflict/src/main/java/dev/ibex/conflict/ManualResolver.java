package dev.ibex.conflict;

import java.util.List;
import java.util.function.BiFunction;

/**
 * The {@code manual} strategy: a conflict is held (each node keeps its row, and the key does not
 * replicate) until an operator chooses the row; then the chosen row goes everywhere. Concurrent
 * changes that leave the same row on every side (two equal updates, two deletes) need nobody and
 * are taken as they are.
 *
 * <p>An operator's choice covers the versions the operator saw: it applies while every side is
 * still at or before them. A side that changed again since is a new conflict, held again.
 */
public final class ManualResolver implements ConflictResolver {
    /**
     * An operator's choice for one key: the row to keep ({@code null}: delete it) and the join of
     * the versions the operator saw.
     */
    public record Choice(RowImage row, VersionVector covers) {
    }

    private final BiFunction<String, List<String>, Choice> choices;

    /** @param choices the operator's choice for a table and key, or {@code null} when there is none */
    public ManualResolver(BiFunction<String, List<String>, Choice> choices) {
        this.choices = choices;
    }

    @Override
    public Resolution resolve(Conflict conflict) {
        Side nominal = conflict.sides().stream().min(LatestResolver.ORDER).orElseThrow();
        if (conflict.sides().stream().allMatch(s -> sameRow(s.image(), nominal.image()))) {
            return Resolution.take(nominal);
        }
        Choice choice = choices.apply(conflict.table(), conflict.key());
        if (choice != null && conflict.sides().stream().allMatch(s -> choice.covers().dominates(s.version()))) {
            return Resolution.merge(nominal, choice.row());
        }
        return Resolution.hold(nominal);
    }

    private static boolean sameRow(RowImage a, RowImage b) {
        return a == null ? b == null : a.sameValues(b);
    }

    @Override
    public String name() {
        return "manual";
    }
}
