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
 * Two connection pools per node, created on first use and kept until closed (a node whose URL or
 * password variable changed gets new ones): one for everything, and one for the writers of rounds,
 * whose sessions run with {@code session_replication_role = replica}.
 */
public final class NodeDirectory implements AutoCloseable {
    private record Entry(NodeSettings settings, HikariDataSource pool, HikariDataSource writers) {
        void close() {
            writers.close();
            pool.close();
        }
    }

    private final Function<String, NodeSettings> lookup;
    private final Map<String, Entry> pools = new ConcurrentHashMap<>();

    public NodeDirectory(Function<String, NodeSettings> lookup) {
        this.lookup = lookup;
    }

    /**
     * Connections per node: a round holds up to two of this pool (reader, change stream) and one
     * writer, and an engine runs up to {@code RoundService.MAX_CONCURRENT_ROUNDS} rounds at once,
     * possibly all on the same node; the change poller holds one, a schema upgrade one for a moment.
     * Idle ones close after two minutes (the pools keep no minimum).
     */
    static final int POOL_SIZE = 2 * 8 + 4;
    static final int WRITERS = 8;

    /**
     * The writers' session setting. A round's writer folds, applies, and tidies change logs and
     * ledgers; of these only the apply writes the application's tables, and must not fire capture
     * triggers. The apply says so itself in each transaction ({@code SET LOCAL}), but changing the
     * setting drops every cached plan of the session (PostgreSQL's {@code ResetPlanCache}), once when
     * set and again when the transaction ends: every statement of the writer's next fold and apply
     * was planned again. A writer that is already a replica keeps its plans.
     */
    static final String WRITER_SESSION_SQL = "set session_replication_role = replica";

    public DataSource pool(String node) {
        return pool(lookup.apply(node));
    }

    /** The pool of a node whose settings the caller has just read (a round reads them with its sync's). */
    public DataSource pool(NodeSettings s) {
        return entry(s).pool;
    }

    /** The pool of rounds' writers of a node whose settings the caller has just read ({@link #WRITER_SESSION_SQL}). */
    public DataSource writers(NodeSettings s) {
        return entry(s).writers;
    }

    /** The pool of rounds' writers of {@code node}. */
    public DataSource writers(String node) {
        return writers(lookup.apply(node));
    }

    private Entry entry(NodeSettings s) {
        return pools.compute(s.name(), (k, old) -> {
            if (old != null && old.settings.equals(s)) {
                return old;
            }
            if (old != null) {
                old.close();
            }
            return new Entry(s, Pools.open("node " + k, s.url(), s.passwordEnv(), POOL_SIZE, false),
                    Pools.open("node " + k + " writers", s.url(), s.passwordEnv(), WRITERS, false, WRITER_SESSION_SQL));
        });
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
        pools.values().forEach(Entry::close);
        pools.clear();
    }
}
