package dev.ibex.engine.round;

/**
 * One node's part in a round: whether it was reached, rows written to it, rows skipped, its error,
 * and its clock's offset from the engine's ({@code null} when not measured), in milliseconds.
 */
public record NodeRound(String node, boolean reachable, long applied, long skipped, String error, Long clockSkewMillis) {
    public NodeRound plus(long moreApplied, long moreSkipped) {
        return new NodeRound(node, reachable, applied + moreApplied, skipped + moreSkipped, error, clockSkewMillis);
    }

    public NodeRound failed(String why) {
        return new NodeRound(node, reachable, applied, skipped, error == null ? why : error, clockSkewMillis);
    }
}
