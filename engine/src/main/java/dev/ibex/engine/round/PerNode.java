package dev.ibex.engine.round;

import dev.ibex.engine.IbexException;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Runs the same read on every node of a round at once, each on its node's reader connection, so
 * that a round waits for its slowest node rather than for the sum of them (the nodes are separate
 * servers). The first node's read runs on the calling thread. Returns only when every read has
 * ended, so that no connection is still in use when the caller goes on, even when one failed.
 */
final class PerNode {
    private static final ExecutorService READS = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "ibex-node-read");
        t.setDaemon(true);
        return t;
    });

    private PerNode() {
    }

    @FunctionalInterface
    interface Read<T> {
        T run(NodeSession s) throws SQLException;
    }

    @FunctionalInterface
    interface Work<A, T> {
        T run(A item) throws SQLException;
    }

    /** The result of {@code read} for each session, in the order of {@code sessions}. */
    static <T> List<T> each(List<NodeSession> sessions, Read<T> read) throws SQLException {
        return all(sessions, read::run);
    }

    /** The result of {@code work} for each of {@code items} (one per node), all at once, in the order of {@code items}. */
    static <A, T> List<T> all(List<A> items, Work<A, T> work) throws SQLException {
        List<T> out = new ArrayList<>(items.size());
        if (items.size() < 2) {
            for (A s : items) {
                out.add(work.run(s));
            }
            return out;
        }
        List<Future<T>> others = new ArrayList<>();
        for (A s : items.subList(1, items.size())) {
            others.add(READS.submit(() -> work.run(s)));
        }
        Throwable failure = null;
        try {
            out.add(work.run(items.get(0)));
        } catch (SQLException | RuntimeException e) {
            failure = e;
        }
        boolean interrupted = false;
        for (Future<T> f : others) {
            while (true) {
                try {
                    T r = f.get();
                    if (failure == null) {
                        out.add(r);
                    }
                    break;
                } catch (ExecutionException e) {
                    failure = failure == null ? e.getCause() : failure;
                    break;
                } catch (InterruptedException e) {
                    interrupted = true; // the read in flight must end before its connection is given back
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (failure instanceof SQLException e) {
            throw e;
        }
        if (failure instanceof RuntimeException e) {
            throw e;
        }
        if (failure instanceof Error e) {
            throw e;
        }
        if (failure != null) {
            throw new IbexException("reading from the nodes: " + failure, failure);
        }
        return out;
    }
}
