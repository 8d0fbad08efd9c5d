package dev.ibex.engine.window;

/** The changes of one source to read in a round: ledger rows with {@code from <= txid < to}. */
public record Window(String source, TxId from, TxId to) {
    public boolean isEmpty() {
        return from.compareTo(to) >= 0;
    }
}
