package dev.ibex.conflict;

import java.util.Objects;

/**
 * The outcome of a conflict: the winning side, and how the row ends up. Three kinds:
 * <ul>
 *   <li>{@link #take}: every node gets the winner's row as it is (its absence when it is a delete);</li>
 *   <li>{@link #merge}: every node gets a row the resolver built (a custom resolver may combine
 *       sides); {@code winner} is then the side the journal names;</li>
 *   <li>{@link #hold}: nothing is written; each node keeps its row until an operator decides (the
 *       {@code manual} strategy).</li>
 * </ul>
 */
public final class Resolution {
    private final Side winner;
    private final RowImage image;
    private final boolean replaced;
    private final boolean held;

    private Resolution(Side winner, RowImage image, boolean replaced, boolean held) {
        this.winner = Objects.requireNonNull(winner, "winner");
        this.image = image;
        this.replaced = replaced;
        this.held = held;
    }

    public static Resolution take(Side winner) {
        return new Resolution(winner, null, false, false);
    }

    /** Every node gets {@code row} ({@code null}: the row is deleted); {@code nominal} is journaled as the winner. */
    public static Resolution merge(Side nominal, RowImage row) {
        return new Resolution(nominal, row, true, false);
    }

    /** Keep every node's row as it is and hold the key until an operator decides. */
    public static Resolution hold(Side nominal) {
        return new Resolution(nominal, null, false, true);
    }

    public Side winner() {
        return winner;
    }

    public boolean held() {
        return held;
    }

    public boolean merged() {
        return replaced;
    }

    /** The row every node must hold ({@code null}: absent). */
    public RowImage image() {
        return replaced ? image : winner.image();
    }

    @Override
    public String toString() {
        return held ? "hold" : (replaced ? "merge(" + image + ")" : "take(" + winner.node() + ")");
    }
}
