package dev.ibex.engine;

import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * Named points of a round where a crash test stops the engine dead: with {@code
 * -Dibex.crashpoint=NAME}, the first thread to reach point NAME prints {@code ibex crashpoint NAME
 * reached} to stderr and blocks forever, holding whatever transaction it has open, so that the
 * test can kill the process there. In-process tests can instead run an action at a point ({@link
 * #at}), to make an application write land at that exact step of a round. Unset (always, outside
 * tests), {@link #reach} is one comparison with null and one volatile read.
 */
public final class CrashPoints {
    /** Every node's change log is folded into its ledgers; nothing read yet. */
    public static final String LOGS_FOLDED = "logs-folded";
    /** A chunk's sides are read and its keys decided; nothing journaled or applied. */
    public static final String CHUNK_DECIDED = "chunk-decided";
    /** A chunk's conflicts are in the journal; nothing of the chunk applied. */
    public static final String JOURNAL_WRITTEN = "journal-written";
    /** Inside the first target's apply transaction, after the COPY and the writes, before commit. */
    public static final String APPLY_UNCOMMITTED = "apply-uncommitted";
    /** One target committed the last chunk with its watermarks; the next target has not. */
    public static final String TARGET_COMMITTED = "target-committed";
    /** Every table of the round is done; the round report is not stored yet. */
    public static final String ROUND_APPLIED = "round-applied";

    public static final List<String> ALL = List.of(LOGS_FOLDED, CHUNK_DECIDED, JOURNAL_WRITTEN,
            APPLY_UNCOMMITTED, TARGET_COMMITTED, ROUND_APPLIED);

    private static final String ENABLED = System.getProperty("ibex.crashpoint");
    private static volatile java.util.Map<String, Runnable> actions = java.util.Map.of();

    private CrashPoints() {
    }

    /** Blocks this thread forever if {@code name} is the enabled crash point; runs the action set for it, if any. */
    public static void reach(String name) {
        if (ENABLED != null && ENABLED.equals(name)) {
            hang(name);
        }
        Runnable action = actions.get(name);
        if (action != null) {
            action.run();
        }
    }

    /**
     * For tests in the engine's own JVM: runs {@code action} on the round's thread each time a round
     * reaches point {@code name}, until {@link #clear}.
     */
    public static synchronized void at(String name, Runnable action) {
        java.util.Map<String, Runnable> m = new java.util.HashMap<>(actions);
        m.put(name, action);
        actions = java.util.Map.copyOf(m);
    }

    /** Removes every action set with {@link #at}. */
    public static synchronized void clear() {
        actions = java.util.Map.of();
    }

    private static void hang(String name) {
        System.err.println("ibex crashpoint " + name + " reached");
        System.err.flush();
        CountDownLatch never = new CountDownLatch(1);
        while (true) {
            try {
                never.await();
            } catch (InterruptedException e) {
                // a crash point does not end: only killing the process does
            }
        }
    }
}
