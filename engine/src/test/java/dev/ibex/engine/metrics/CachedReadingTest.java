package dev.ibex.engine.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class CachedReadingTest {
    private static final Duration FRESH = Duration.ofSeconds(1);
    private static final Duration BOUND = Duration.ofMillis(50);

    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final MutableClock clock = new MutableClock();
    private final AtomicInteger reads = new AtomicInteger();

    @AfterEach
    void stop() {
        executor.shutdownNow();
    }

    @Test
    void aFreshReadingServesAgainAndAnOldOneIsReadAgain() {
        CachedReading<Integer> r = new CachedReading<>(reads::incrementAndGet, FRESH, Duration.ofSeconds(30), executor, clock);
        assertEquals(1, r.get().value());
        clock.advance(FRESH.minusMillis(1));
        assertEquals(1, r.get().value(), "still fresh");
        clock.advance(Duration.ofMillis(1));
        assertEquals(2, r.get().value(), "read again once a second old");
        assertEquals(2, reads.get());
    }

    @Test
    void aHangingSourceAnswersWithinTheBoundWithThePreviousValueAndIsReadOnce() throws Exception {
        CountDownLatch hang = new CountDownLatch(1);
        CachedReading<Integer> r = new CachedReading<>(() -> {
            int n = reads.incrementAndGet();
            if (n > 1) {
                hang.await();
            }
            return n;
        }, FRESH, BOUND, executor, clock);
        assertTrue(r.get().ok());
        clock.advance(FRESH);
        CachedReading.Reading<Integer> late = r.get();
        CachedReading.Reading<Integer> later = r.get();
        hang.countDown();
        assertEquals(1, late.value(), "the previous value");
        assertEquals("no answer within 0.05 s", late.error());
        assertEquals(1, later.value());
        assertEquals(2, reads.get(), "one read in flight at a time, however many scrapes ask");
    }

    @Test
    void aFailureIsAnErrorWithNoValue() {
        CachedReading<Integer> r = new CachedReading<>(() -> {
            throw new SQLException("connection refused", "08001");
        }, FRESH, Duration.ofSeconds(30), executor, clock);
        CachedReading.Reading<Integer> failed = r.get();
        assertNull(failed.value());
        assertEquals("connection refused", failed.error());
    }

    private static final class MutableClock extends Clock {
        private volatile Instant now = Instant.parse("2026-01-01T00:00:00Z");

        void advance(Duration d) {
            now = now.plus(d);
        }

        @Override
        public Instant instant() {
            return now;
        }

        @Override
        public java.time.ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }
    }
}
