package dev.ibex.engine.runtime;

import dev.ibex.engine.capture.InFlight;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.window.Snapshot;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import java.util.function.Supplier;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Wakes the syncs of one node when it has changes for them, without costing writers anything but
 * the nextval() their capture already does: every few milliseconds it reads each sync's change
 * counter on the node, and wakes a sync whose counter moved. A transaction that captured before a
 * fold but committed after it moves no counter afterwards, so the poller also watches the
 * transactions {@link InFlight} names after each fold and wakes the sync when one of them ends.
 * A blocking loop on its own daemon thread; reconnects with backoff when the node goes away.
 */
final class ChangePoller implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ChangePoller.class);
    private static final String COUNTERS = "select c.sync_name, coalesce(pg_catalog.pg_sequence_last_value("
            + "pg_catalog.format('%I.%I', 'ibex', c.changes_seq)::regclass), 0) from (select distinct sync_name, changes_seq "
            + "from ibex.capture) c";
    private static final String SNAPSHOT = "select pg_current_snapshot()::text";

    private final String node;
    private final Supplier<DataSource> pool;
    private final Consumer<String> wake;
    private final Duration every;
    private final Map<String, Long> seen = new HashMap<>();
    private final Map<String, Long> foldCounters = new HashMap<>();
    private final Map<String, InFlight> watched = new HashMap<>();
    private final Thread thread;
    private volatile boolean closed;

    ChangePoller(String node, Supplier<DataSource> pool, Consumer<String> wake, Duration every) {
        this.node = node;
        this.pool = pool;
        this.wake = wake;
        this.every = every;
        this.thread = new Thread(this::loop, "ibex-poll-" + node);
        this.thread.setDaemon(true);
        this.thread.start();
    }

    /** A round folded this node's log for {@code sync}: watch what it could not take. */
    synchronized void folded(String sync, long counter, Snapshot snapshot, long next) {
        Long previous = foldCounters.put(sync, counter);
        InFlight w = watched.getOrDefault(sync, InFlight.NONE).next(previous == null || previous != counter, snapshot, next);
        watched.put(sync, w);
        LOG.debug("node {}, sync {}: folded at counter {} (before {}), snapshot {}, next {}: watching {}", node, sync, counter,
                previous, snapshot, next, w);
    }

    private void loop() {
        long backoffMs = 200;
        while (!closed) {
            try (Connection c = pool.get().getConnection()) {
                backoffMs = 200;
                while (!closed) {
                    poll(c);
                    LockSupport.parkNanos(every.toNanos());
                }
            } catch (SQLException | RuntimeException e) {
                if (!closed) {
                    LOG.debug("polling node {} failed, retrying in {} ms: {}", node, backoffMs, Redactor.text(e.getMessage()));
                    LockSupport.parkNanos(backoffMs * 1_000_000);
                    backoffMs = Math.min(backoffMs * 2, 10_000);
                }
            }
        }
    }

    private void poll(Connection c) throws SQLException {
        Map<String, Long> counters = new HashMap<>();
        try (PreparedStatement ps = c.prepareStatement(COUNTERS); ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                counters.put(rs.getString(1), rs.getLong(2));
            }
        }
        Set<String> due = new HashSet<>();
        synchronized (this) {
            counters.forEach((sync, n) -> {
                Long before = seen.put(sync, n);
                // first reading: a change may have come just before, with no round since to take it
                if (before == null ? n > 0 : !before.equals(n)) {
                    due.add(sync);
                }
            });
        }
        due.addAll(ended(c));
        if (!due.isEmpty()) {
            LOG.debug("node {}: waking {} (counters {})", node, due, counters);
        }
        due.forEach(wake);
    }

    /** The syncs one of whose watched transactions has ended; those are no longer watched. */
    private Set<String> ended(Connection c) throws SQLException {
        synchronized (this) {
            if (watched.values().stream().allMatch(InFlight::isEmpty)) {
                return Set.of();
            }
        }
        Snapshot now;
        try (PreparedStatement ps = c.prepareStatement(SNAPSHOT); ResultSet rs = ps.executeQuery()) {
            rs.next();
            now = Snapshot.parse(rs.getString(1));
        }
        Set<String> out = new HashSet<>();
        synchronized (this) {
            watched.replaceAll((sync, w) -> {
                InFlight running = w.runningAt(now);
                if (!running.equals(w)) {
                    out.add(sync);
                }
                return running;
            });
        }
        return out;
    }

    /** The syncs this poller has seen counters for. */
    synchronized List<String> syncs() {
        return List.copyOf(seen.keySet());
    }

    @Override
    public void close() {
        closed = true;
        thread.interrupt();
    }
}
