package dev.ibex.engine.round;

import dev.ibex.engine.window.Snapshot;

/**
 * Told about every fold a round makes, so that the engine's change poller knows which transactions
 * may still bring changes the fold could not take (see {@code InFlight}).
 */
@FunctionalInterface
public interface FoldListener {
    FoldListener NONE = (sync, node, counter, snapshot, next) -> { };

    /**
     * @param counter  the sync's change counter on the node, read before the fold's snapshot was taken
     * @param snapshot the fold's snapshot
     * @param next     the next transaction id when the snapshot was taken
     */
    void folded(String sync, String node, long counter, Snapshot snapshot, long next);
}
