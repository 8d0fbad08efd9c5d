package dev.ibex.conflict;

import java.util.List;

/**
 * What a round decided for one row: the winning side, the image every node must hold ({@code
 * null}: the row must be absent), and the version every node must record, which is the join of
 * all versions seen. {@code conflict} is non-null when the winner was chosen among concurrent
 * changes, so that the journal can record it.
 */
public record Decision(Side winner, RowImage image, VersionVector version, Conflict conflict, String strategy) {
    public boolean conflicted() {
        return conflict != null;
    }

    /** The sides that must be rewritten so that they hold exactly this decision. */
    public List<Side> stale(List<Side> sides) {
        return sides.stream().filter(s -> !s.version().equals(version) || !sameContent(s)).toList();
    }

    private boolean sameContent(Side s) {
        if (image == null) {
            return s.image() == null;
        }
        return image.sameValues(s.image());
    }
}
