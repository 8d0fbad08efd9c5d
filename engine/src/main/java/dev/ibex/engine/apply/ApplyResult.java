package dev.ibex.engine.apply;

/**
 * What one apply transaction did on a target: rows written (or, for a delete of a row already
 * absent, recorded); rows skipped because an application changed them since the round read them
 * (that change is in the target's log, so a later round decides the key again); rows skipped
 * because an application held them locked ({@code busy}: nothing guarantees another round sees
 * them, so the target's watermarks must not advance).
 */
public record ApplyResult(long applied, long skipped, long busy) {
    public static final ApplyResult NONE = new ApplyResult(0, 0, 0);
}
