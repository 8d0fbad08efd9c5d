package dev.ibex.engine.apply;

import dev.ibex.conflict.RowImage;
import dev.ibex.conflict.VersionVector;
import java.util.List;

/**
 * One row to write on one target: the decided image ({@code null}: delete), the version the
 * target held when the round read it (the apply skips the row if that changed meanwhile), and
 * the version, change stamp and origin the target's ledger must record.
 */
public record RowChange(List<String> key, RowImage image, VersionVector expected, VersionVector version,
                        long stampMicros, int originOrdinal) {
    public RowChange {
        key = List.copyOf(key);
    }

    public boolean delete() {
        return image == null;
    }
}
