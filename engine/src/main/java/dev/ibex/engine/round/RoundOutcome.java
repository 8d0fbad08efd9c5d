package dev.ibex.engine.round;

import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/**
 * How a round ended: {@code ok} without an error; {@code partial} with errors while at least two
 * nodes took part (they replicated among themselves); {@code failed} otherwise. The label is what
 * the control database's round history, {@code ibex status} and the metrics show.
 */
public enum RoundOutcome {
    OK, PARTIAL, FAILED;

    @JsonValue
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    @Override
    public String toString() {
        return label();
    }

    /** The outcome a stored label names. */
    public static RoundOutcome of(String label) {
        return valueOf(label.toUpperCase(Locale.ROOT));
    }
}
