package dev.ibex.engine.round;

import dev.ibex.engine.config.TableRef;
import java.time.Duration;

/**
 * Told what the rounds of this process do, as they do it (the engine's metrics): conflicts as the
 * journal records them, each round's report once it has run, and the rounds that an exception
 * ended. Called on the round's thread; must be quick and must not throw.
 */
public interface RoundObserver {
    RoundObserver NONE = new RoundObserver() {
    };

    /** {@code count} conflicts of {@code table}, decided by {@code strategy}, were journaled for {@code sync}. */
    default void conflicts(String sync, TableRef table, String strategy, long count) {
    }

    /** A round ran to its end (its outcome may still be {@code partial} or {@code failed}). */
    default void finished(RoundReport report) {
    }

    /** A round of {@code sync} ended with an exception after {@code took}. */
    default void failed(String sync, Duration took) {
    }
}
