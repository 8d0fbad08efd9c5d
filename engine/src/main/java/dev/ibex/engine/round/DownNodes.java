package dev.ibex.engine.round;

import java.sql.Connection;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.sql.DataSource;

/**
 * Nodes a round could not reach, probed in the background until they answer, so that the next
 * rounds do not each wait a connection timeout for a node known to be down: they skip it at once
 * and replicate among the others, and try it again as soon as a probe has reached it. Probes are
 * scheduled with a backoff from 250 ms to 5 s between attempts and give up after an hour (the
 * next round then tries the node itself and starts a new probe).
 */
final class DownNodes {
    private static final long FIRST_WAIT_MILLIS = 250;
    private static final long MAX_WAIT_MILLIS = Duration.ofSeconds(5).toMillis();
    private static final long GIVE_UP_NANOS = Duration.ofHours(1).toNanos();

    private record Down(String reason, AtomicBoolean back, long deadline) {
    }

    private final Map<String, Down> down = new ConcurrentHashMap<>();
    private final ScheduledExecutorService probes = Executors.newScheduledThreadPool(2, r -> {
        Thread t = new Thread(r, "ibex-node-probe");
        t.setDaemon(true);
        return t;
    });

    /** Why the round must skip this node, or {@code null} when it should try it. */
    String skip(String node) {
        Down d = down.get(node);
        if (d == null) {
            return null;
        }
        if (d.back().get()) {
            down.remove(node, d);
            return null;
        }
        return d.reason();
    }

    /**
     * Stops tracking a node that rounds leave out (it waits for a resync): once a resync, which
     * reaches it, takes it back, the next round tries it at once rather than skipping it on a stale
     * record until a probe comes back.
     */
    void forget(String node) {
        down.remove(node);
    }

    /** Records that a round could not reach the node, and starts probing it unless a probe runs. */
    void failed(String node, String reason, DataSource pool) {
        Down d = new Down(reason, new AtomicBoolean(), System.nanoTime() + GIVE_UP_NANOS);
        if (down.putIfAbsent(node, d) == null) {
            schedule(node, pool, d, FIRST_WAIT_MILLIS);
        }
    }

    private void schedule(String node, DataSource pool, Down d, long waitMillis) {
        probes.schedule(() -> attempt(node, pool, d, waitMillis), waitMillis, TimeUnit.MILLISECONDS);
    }

    private void attempt(String node, DataSource pool, Down d, long waitedMillis) {
        if (down.get(node) != d) {
            return;
        }
        if (System.nanoTime() > d.deadline()) {
            down.remove(node, d);
            return;
        }
        try (Connection c = pool.getConnection()) {
            d.back().set(true);
        } catch (Exception stillDown) {
            schedule(node, pool, d, Math.min(waitedMillis * 2, MAX_WAIT_MILLIS));
        }
    }
}
