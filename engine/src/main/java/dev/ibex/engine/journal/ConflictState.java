package dev.ibex.engine.journal;

import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/**
 * Where a conflict of the journal stands: {@code decided} (a strategy chose), {@code open} (held
 * for an operator by the {@code manual} strategy), {@code resolved} (an operator chose, or recorded
 * a repair; the next round applies it) or {@code applied}. The label is what the control database stores and the CLI
 * prints.
 */
public enum ConflictState {
    DECIDED, OPEN, RESOLVED, APPLIED;

    /** True while an operator's choice is still to be applied: open, or resolved and not yet applied. */
    public boolean awaitsOperator() {
        return this == OPEN || this == RESOLVED;
    }

    @JsonValue
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    @Override
    public String toString() {
        return label();
    }

    /** The state a stored label names. */
    public static ConflictState of(String label) {
        return valueOf(label.toUpperCase(Locale.ROOT));
    }
}
