package dev.ibex.conflict;

import java.util.Objects;

/**
 * The outcome of a conflict: the winning side, and optionally a merged image that replaces the
 * winner's image (a custom resolver may combine sides). A null merged image means "take the
 * winner as it is" (including its absence when the winner is a delete).
 */
public record Resolution(Side winner, RowImage merged) {
    public Resolution {
        Objects.requireNonNull(winner, "winner");
    }

    public static Resolution take(Side winner) {
        return new Resolution(winner, null);
    }

    public RowImage image() {
        return merged != null ? merged : winner.image();
    }
}
