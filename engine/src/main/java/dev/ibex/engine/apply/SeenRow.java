package dev.ibex.engine.apply;

/**
 * A target's row as a round saw it: absent, or present with the id of the transaction that wrote
 * that version of it ({@code xmin}, 32-bit, as text). A row whose {@code xmin} is different when the
 * apply locks it was written since, by an application: the apply leaves it to the next round.
 */
public record SeenRow(boolean present, String xmin) {
    public static final SeenRow ABSENT = new SeenRow(false, null);

    public static SeenRow present(String xmin) {
        if (xmin == null) {
            throw new IllegalArgumentException("a present row has an xmin");
        }
        return new SeenRow(true, xmin);
    }
}
