package dev.ibex.engine.db;

import com.zaxxer.hikari.HikariDataSource;
import dev.ibex.conflict.NodeId;
import dev.ibex.engine.IbexException;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import javax.sql.DataSource;

/**
 * One connection pool per node, created on first use and kept until closed; a node whose URL or
 * password variable changed gets a new pool.
 */
public final class NodeDirectory implements AutoCloseable {
    private record Entry(NodeSettings settings, HikariDataSource pool) {
    }

    private final Function<String, NodeSettings> lookup;
    private final Map<String, Entry> pools = new ConcurrentHashMap<>();

    public NodeDirectory(Function<String, NodeSettings> lookup) {
        this.lookup = lookup;
    }

    /**
     * Connections per node: a round holds up to three (reader, writer, change stream), and an engine
     * runs up to {@code RoundService.MAX_CONCURRENT_ROUNDS} rounds at once, possibly all on the same
     * node; the change poller holds one, a schema upgrade one for a moment. Idle ones close after
     * two minutes (the pool keeps no minimum).
     */
    static final int POOL_SIZE = 3 * 8 + 4;

    public DataSource pool(String node) {
        return pool(lookup.apply(node));
    }

    /** The pool of a node whose settings the caller has just read (a round reads them with its sync's). */
    public DataSource pool(NodeSettings s) {
        Entry e = pools.compute(s.name(), (k, old) -> {
            if (old != null && old.settings.equals(s)) {
                return old;
            }
            if (old != null) {
                old.pool.close();
            }
            return new Entry(s, Pools.open("node " + k, s.url(), s.passwordEnv(), POOL_SIZE, false));
        });
        return e.pool;
    }

    /**
     * One connection to each of {@code nodes}, in their order, or none: when a node does not
     * answer, the connections opened so far are closed and the failure names the node and says that
     * every node of sync {@code sync} must be reachable {@code to} do what the caller was about to
     * (nothing changed yet).
     */
    public Map<NodeId, Connection> connectAll(String sync, List<NodeId> nodes, String to) {
        Map<NodeId, Connection> conns = new LinkedHashMap<>();
        for (NodeId n : nodes) {
            try {
                conns.put(n, pool(n.name()).getConnection());
            } catch (SQLException | NodeUnreachableException e) {
                conns.values().forEach(NodeDirectory::closeQuietly);
                String why = e instanceof SQLException q ? "node " + n + " is unreachable: " + SqlErrors.connectFailure(q) : e.getMessage();
                throw new IbexException(why + "; every node of sync " + sync + " must be reachable " + to + " (nothing changed)", e);
            }
        }
        return conns;
    }

    private static void closeQuietly(Connection c) {
        try {
            c.close();
        } catch (SQLException ignored) {
            // already broken
        }
    }

    public NodeSettings settings(String node) {
        return lookup.apply(node);
    }

    @Override
    public void close() {
        pools.values().forEach(e -> e.pool.close());
        pools.clear();
    }
}
