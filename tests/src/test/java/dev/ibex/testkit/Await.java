package dev.ibex.testkit;

import java.time.Duration;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * Polling waits for tests: re-evaluates a condition every 50 ms until it holds or a deadline passes.
 * Exceptions thrown while polling count as "not yet" and the last one becomes the cause of the
 * {@link AssertionError} reported on timeout. This is the only place in the kit that waits by time.
 */
public final class Await {
    private static final long POLL_NANOS = Duration.ofMillis(50).toNanos();

    private Await() {
    }

    /** Waits until {@code condition} returns true. */
    public static void until(String what, Duration timeout, BooleanSupplier condition) {
        value(what, timeout, condition::getAsBoolean, Boolean::booleanValue);
    }

    /** Polls {@code supplier} until {@code ok} accepts its value, and returns that value. */
    public static <T> T value(String what, Duration timeout, Supplier<T> supplier, Predicate<T> ok) {
        long deadline = System.nanoTime() + timeout.toNanos();
        Throwable lastFailure = null;
        while (true) {
            try {
                T value = supplier.get();
                if (ok.test(value)) {
                    return value;
                }
            } catch (RuntimeException | AssertionError e) {
                lastFailure = e;
            }
            long remaining = deadline - System.nanoTime();
            if (remaining <= 0) {
                throw new AssertionError("timed out after " + timeout.toMillis() + " ms: " + what, lastFailure);
            }
            if (Thread.currentThread().isInterrupted()) {
                throw new AssertionError("interrupted while waiting for: " + what, lastFailure);
            }
            LockSupport.parkNanos(Math.min(POLL_NANOS, remaining));
        }
    }
}
