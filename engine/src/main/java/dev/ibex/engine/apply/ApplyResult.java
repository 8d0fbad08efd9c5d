package dev.ibex.engine.apply;

/** What one apply transaction did on a target: rows written and rows skipped as changed meanwhile. */
public record ApplyResult(long applied, long skipped) {
    public static final ApplyResult NONE = new ApplyResult(0, 0);

    public ApplyResult plus(ApplyResult o) {
        return new ApplyResult(applied + o.applied, skipped + o.skipped);
    }
}
