package dev.ibex.engine.round;

import dev.ibex.engine.IbexException;

/**
 * A table that cannot be reconciled until someone fixes it: its columns differ between nodes (or
 * it is gone from one), or a node rejects a row. The round pauses the table with this message as
 * the reason; the other tables go on. {@code ibex table resume} continues with nothing lost,
 * because the table's watermarks did not advance.
 */
public final class TableStall extends IbexException {
    public TableStall(String message, Throwable cause) {
        super(message, cause);
    }
}
