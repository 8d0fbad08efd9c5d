package dev.ibex.engine.round;

import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.journal.ConflictJournal;
import dev.ibex.engine.journal.RoundHistory;
import java.time.Clock;

/**
 * Runs a round of a sync with its latest settings and records it: conflicts to the journal as
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
}
