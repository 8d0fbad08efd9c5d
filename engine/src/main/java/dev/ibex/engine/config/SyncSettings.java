package dev.ibex.engine.config;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.UsageException;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;

/**
 * A sync as configured: its nodes (with their version-vector ordinals), its tables, strategy,
 * priority order and schedule. Validated on construction; invalid settings are refused, never
 * replaced by defaults.
 */
public record SyncSettings(String name, List<NodeId> nodes, List<TableSettings> tables, String strategy,
                           List<String> priority, Duration interval, boolean paused) {
    public SyncSettings {
        Names.requireName("sync", name);
        nodes = List.copyOf(nodes);
        tables = List.copyOf(tables);
        priority = List.copyOf(priority);
        if (nodes.size() < 2) {
            throw new UsageException("sync " + name + ": needs at least two nodes, got " + nodes.size());
        }
        HashSet<String> seen = new HashSet<>();
        for (NodeId n : nodes) {
            if (!seen.add(n.name())) {
                throw new UsageException("sync " + name + ": node " + n.name() + " is listed twice in --nodes");
            }
        }
        Strategies.validate(strategy);
        for (String p : priority) {
            if (nodes.stream().noneMatch(n -> n.name().equals(p))) {
                throw new UsageException("sync " + name + ": --priority names " + p + ", which is not one of its nodes "
                        + nodes.stream().map(NodeId::name).toList());
            }
        }
        if (interval.isNegative() || interval.isZero()) {
            throw new UsageException("sync " + name + ": --interval must be positive, got " + interval);
        }
    }

    public Optional<NodeId> node(String nodeName) {
        return nodes.stream().filter(n -> n.name().equals(nodeName)).findFirst();
    }

    public String strategyFor(TableSettings t) {
        return t.strategy() != null ? t.strategy() : strategy;
    }
}
