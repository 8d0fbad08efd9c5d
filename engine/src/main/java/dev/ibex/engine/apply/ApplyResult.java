package dev.ibex.engine.apply;

/**
 * What one apply transaction did on a target: rows written; rows skipped because an application
 * changed them since the round read them (their new change is in the next window); rows skipped
 * because an application held them locked ({@code busy}: only a re-read of the window finds them
 * again, so the target's watermarks must not advance).
 */
public record ApplyResult(long applied, long skipped, long busy) {
    public static final ApplyResult NONE = new ApplyResult(0, 0, 0);
}
