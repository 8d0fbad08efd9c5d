package dev.ibex.engine.copy;

import dev.ibex.engine.config.TableRef;

/** Told how a long copy of a table's rows goes, for a progress bar. */
public interface ProgressListener {
    void copying(TableRef table, String from, String to, long rowsDone, long rowsTotal);
}
