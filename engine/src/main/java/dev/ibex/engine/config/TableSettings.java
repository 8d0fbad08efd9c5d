package dev.ibex.engine.config;

/** A table of a sync with its own settings: strategy override (null: the sync's), pause state. */
public record TableSettings(TableRef table, String strategy, boolean paused, String pauseReason) {
    public TableSettings {
        if (strategy != null) {
            Strategies.validate(strategy);
        }
    }
}
