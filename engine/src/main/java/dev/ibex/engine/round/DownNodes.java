package dev.ibex.engine.round;

import java.sql.Connection;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.sql.DataSource;

/**
 * Nodes a round could not reach, probed in the background until they answer, so that the next
 * rounds do not each wait a connection timeout for a node known to be down: they skip it at once
 * and replicate among the others, and try it again as soon as a probe has reached it. Probing
 * backs off from 250 ms to 5 s between attempts and gives up after an hour (the next round then
 * tries the node itself and starts a new probe).
 */
final class DownNodes {
    private static final Duration FIRST_WAIT = Duration.ofMillis(250);
    private static final Duration MAX_WAIT = Duration.ofSeconds(5);
    private static final Duration GIVE_UP = Duration.ofHours(1);

    private record Down(String reason, AtomicBoolean back) {
    }

    private final Map<String, Down> down = new ConcurrentHashMap<>();
    private final ExecutorService probes = Executors.newCachedThreadPool(r -> {
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

    /** Records that a round could not reach the node, and starts probing it unless a probe runs. */
    void failed(String node, String reason, DataSource pool) {
        Down d = new Down(reason, new AtomicBoolean());
        if (down.putIfAbsent(node, d) == null) {
            probes.execute(() -> probe(node, pool, d));
        }
    }

    private void probe(String node, DataSource pool, Down d) {
        long deadline = System.nanoTime() + GIVE_UP.toNanos();
        long wait = FIRST_WAIT.toMillis();
        while (down.get(node) == d && System.nanoTime() < deadline) {
            try {
                Thread.sleep(wait);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            try (Connection c = pool.getConnection()) {
                d.back().set(true);
                return;
            } catch (Exception stillDown) {
                wait = Math.min(wait * 2, MAX_WAIT.toMillis());
            }
        }
        down.remove(node, d);
    }
}
