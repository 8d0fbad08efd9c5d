package dev.ibex.conflict;

import java.util.Comparator;
import java.util.List;

/**
 * The {@code priority} strategy: among concurrent changes the one authored by the node listed
 * first wins; nodes not listed rank after all listed ones; ties fall back to {@code latest}.
 */
public final class SourcePriorityResolver implements ConflictResolver {
    private final List<String> order;

    public SourcePriorityResolver(List<String> order) {
        this.order = List.copyOf(order);
    }

    @Override
    public Resolution resolve(Conflict conflict) {
        Comparator<Side> byRank = Comparator.comparingInt(this::rank);
        return Resolution.take(conflict.sides().stream().min(byRank.thenComparing(LatestResolver.ORDER)).orElseThrow());
    }

    private int rank(Side s) {
        int i = order.indexOf(s.author().name());
        return i < 0 ? Integer.MAX_VALUE : i;
    }

    @Override
    public String name() {
        return "priority";
    }
}
