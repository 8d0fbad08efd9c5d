package dev.ibex.conflict;

import java.util.List;

/**
 * What a round decided for one row: the winning side, the image every node must hold ({@code
 * null}: the row must be absent), and the version every node must record, which is the join of
 * all versions seen. {@code conflict} is non-null when the outcome was chosen among concurrent
 * changes, so that the journal can record it; {@code merged} when the resolver built a new row;
 * {@code held} when the key is held for an operator and nothing may be written.
 */
public record Decision(Side winner, RowImage image, VersionVector version, Conflict conflict, String strategy,
                       boolean merged, boolean held) {
    public Decision(Side winner, RowImage image, VersionVector version, Conflict conflict, String strategy) {
        this(winner, image, version, conflict, strategy, false, false);
    }

    public boolean conflicted() {
        return conflict != null;
    }

    /** The sides that must be rewritten so that they hold exactly this decision (none while held). */
    public List<Side> stale(List<Side> sides) {
        if (held) {
            return List.of();
        }
        return sides.stream().filter(s -> !s.version().equals(version) || !sameContent(s)).toList();
    }

    private boolean sameContent(Side s) {
        if (image == null) {
            return s.image() == null;
        }
        return image.sameValues(s.image());
    }
}
