package dev.ibex.engine.metrics;

import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.db.SqlErrors;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A reading of something slow (databases that may be down) for scrapes: a reading younger than
 * {@code fresh} is served again; otherwise one read runs (never two at once, however many scrapes
 * ask) and a scrape waits at most {@code bound} for it. A scrape that gives up gets the previous
 * value with an error saying the read did not answer in time; the read goes on and its result
 * serves the next scrape. So a dead or hanging database never holds a scrape longer than the bound.
 */
final class CachedReading<T> {
    /** A value read at {@code at}, or why there is none ({@code error}; the value may then be an older one). */
    record Reading<T>(T value, String error, Instant at) {
        boolean ok() {
            return error == null;
        }
    }

    private final Callable<T> source;
    private final Duration fresh;
    private final Duration bound;
    private final Executor executor;
    private final Clock clock;
    private Reading<T> last;
    private CompletableFuture<Reading<T>> inFlight;

    CachedReading(Callable<T> source, Duration fresh, Duration bound, Executor executor, Clock clock) {
        this.source = source;
        this.fresh = fresh;
        this.bound = bound;
        this.executor = executor;
        this.clock = clock;
    }

    Reading<T> get() {
        CompletableFuture<Reading<T>> f;
        synchronized (this) {
            if (last != null && inFlight == null && last.at().plus(fresh).isAfter(clock.instant())) {
                return last;
            }
            f = inFlight;
            if (f == null) {
                CompletableFuture<Reading<T>> read = CompletableFuture.supplyAsync(this::read, executor);
                inFlight = read;
                // may run at once, on this thread, if the read has already finished
                read.thenAccept(r -> done(read, r));
                f = read;
            }
        }
        try {
            return f.get(bound.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            return late();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return late();
        } catch (ExecutionException e) {
            return new Reading<>(null, String.valueOf(e.getCause()), clock.instant());
        }
    }

    private synchronized Reading<T> late() {
        String why = "no answer within " + bound.toMillis() / 1000.0 + " s";
        return last == null ? new Reading<>(null, why, clock.instant()) : new Reading<>(last.value(), why, last.at());
    }

    private synchronized void done(CompletableFuture<Reading<T>> read, Reading<T> r) {
        last = r;
        if (inFlight == read) {
            inFlight = null;
        }
    }

    private Reading<T> read() {
        try {
            return new Reading<>(source.call(), null, clock.instant());
        } catch (SQLException e) {
            return new Reading<>(null, SqlErrors.connectFailure(e), clock.instant());
        } catch (Exception e) {
            return new Reading<>(null, Redactor.text(Redactor.firstLine(SqlErrors.message(e))), clock.instant());
        }
    }
}
