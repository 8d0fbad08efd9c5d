package dev.ibex.engine.round;

import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.journal.ConflictJournal;
import dev.ibex.engine.journal.RoundHistory;
import java.time.Clock;

/**
 * Runs a round of a sync and records it: conflicts to the journal as
 * they are decided, the report to the round history. Thread-safe; blocking.
 */
public final class RoundService {
    private final ControlStore control;
    private final RoundRunner runner;
    private final RoundHistory history;

    public RoundService(ControlStore control, NodeDirectory directory, Clock clock) {
        this.control = control;
        ConflictJournal journal = new ConflictJournal(control.dsl());
        this.runner = new RoundRunner(directory, journal::record, clock);
        this.history = new RoundHistory(control.dsl());
    }

    public SyncSettings settings(String sync) {
        return control.sync(sync);
    }

    public RoundReport run(SyncSettings sync) {
        RoundReport r = runner.run(sync);
        history.record(r);
        return r;
    }

    public RoundReport run(String sync) {
        return run(settings(sync));
    }

    /**
     * A round with the settings as they are now in the control database (so that a pause takes
     * effect from the next round), or nothing when the sync is paused or gone.
     */
    public java.util.Optional<RoundReport> runIfActive(String sync) {
        if (!control.syncExists(sync)) {
            return java.util.Optional.empty();
        }
        SyncSettings s = settings(sync);
        return s.paused() ? java.util.Optional.empty() : java.util.Optional.of(run(s));
    }
}
