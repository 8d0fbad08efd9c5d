package dev.ibex.engine.round;

import dev.ibex.engine.db.NodeSettings;
import java.util.Map;

/**
 * What the caller of a round read about its sync together with the settings, so that the round
 * need not ask the control database again: the members' connection settings, and whether an
 * interrupted ledger purge or an operator's repair waits for it. {@link #NONE}: nothing known, the
 * round reads all of it itself.
 */
public record RoundHints(Map<String, NodeSettings> nodes, boolean purgesPending, boolean repairsPending) {
    public static final RoundHints NONE = new RoundHints(Map.of(), true, true);

    public RoundHints {
        nodes = Map.copyOf(nodes);
    }
}
