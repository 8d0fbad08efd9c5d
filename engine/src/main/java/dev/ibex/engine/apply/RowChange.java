package dev.ibex.engine.apply;

import dev.ibex.conflict.VersionVector;
import java.util.List;

/**
 * One row to write on one target: the decided row ({@code null}: delete), what the round saw of
 * the target's row (the apply writes only if that row is still the one it saw), the target's
 * version then, and the version, change stamp and origin the target's ledger must record.
 *
 * @param row  the decided row's columns in COPY text, or {@code null} for a delete
 * @param seen the target's row when the round read it; the apply skips the row if it changed since
 * @param held the target's version when the round read it; equal to {@code version} when the
 *             target's own change won and the row is sent only to confirm it (and clear its base)
 */
public record RowChange(List<String> key, CopyRow row, SeenRow seen, VersionVector held, VersionVector version,
                        long stampMicros, int originOrdinal) {
    public RowChange {
        key = List.copyOf(key);
    }

    public boolean delete() {
        return row == null;
    }

    /** True when the target already holds the decided version: its own change won. */
    public boolean confirm() {
        return held.equals(version);
    }
}
