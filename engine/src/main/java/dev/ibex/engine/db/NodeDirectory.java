package dev.ibex.engine.db;

import com.zaxxer.hikari.HikariDataSource;
import dev.ibex.engine.db.NodeSettings;
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
        NodeSettings s = lookup.apply(node);
        Entry e = pools.compute(node, (k, old) -> {
            if (old != null && old.settings.equals(s)) {
                return old;
            }
            if (old != null) {
                old.pool.close();
            }
            return new Entry(s, Pools.open("node " + node, s.url(), s.passwordEnv(), POOL_SIZE, false));
        });
        return e.pool;
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
