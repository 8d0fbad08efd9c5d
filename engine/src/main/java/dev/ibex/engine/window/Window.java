package dev.ibex.engine.window;

/**
 * The changes of one source to read in a round: ledger rows with {@code txid >= from}, and the
 * boundary {@code to} that targets record as their new watermark once they hold the result.
 * There is deliberately no upper bound on what is read: a key changed again after the boundary
 * has its ledger row overwritten with a newer txid, and a key that changes all the time would
 * never be read if the window stopped at the boundary. Reading it early is harmless, since
 * rounds decide on current state; it is read again next round, from the new watermark.
 */
public record Window(String source, TxId from, TxId to) {
    /** True when every target already recorded this source up to its boundary. */
    public boolean caughtUp() {
        return from.compareTo(to) >= 0;
    }
}
