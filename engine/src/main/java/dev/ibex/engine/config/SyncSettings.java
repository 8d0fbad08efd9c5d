package dev.ibex.engine.config;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.Names;
import dev.ibex.engine.UsageException;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A sync as configured: its nodes (with their version-vector ordinals), its tables, strategy,
 * priority order, schedule, how long the conflict journal keeps decided entries, the clock
 * skew above which status warns, how often ledgers are purged, how long a node may stay away
 * before it needs a resync, and which nodes need one (node name to the reason). Validated on
 * construction; invalid settings are refused, never replaced by defaults.
 */
public record SyncSettings(String name, List<NodeId> nodes, List<TableSettings> tables, String strategy,
                           List<String> priority, Duration interval, boolean paused, Duration journalRetention,
                           Duration maxClockSkew, Duration purgeInterval, Duration nodeRetention, Map<String, String> resyncNeeded) {
    public static final Duration DEFAULT_JOURNAL_RETENTION = Duration.ofDays(30);
    public static final Duration DEFAULT_MAX_CLOCK_SKEW = Duration.ofSeconds(1);
    public static final Duration DEFAULT_PURGE_INTERVAL = Duration.ofMinutes(1);
    public static final Duration DEFAULT_NODE_RETENTION = Duration.ofDays(7);

    public SyncSettings(String name, List<NodeId> nodes, List<TableSettings> tables, String strategy, List<String> priority,
                        Duration interval, boolean paused) {
        this(name, nodes, tables, strategy, priority, interval, paused, DEFAULT_JOURNAL_RETENTION, DEFAULT_MAX_CLOCK_SKEW);
    }

    public SyncSettings(String name, List<NodeId> nodes, List<TableSettings> tables, String strategy, List<String> priority,
                        Duration interval, boolean paused, Duration journalRetention, Duration maxClockSkew) {
        this(name, nodes, tables, strategy, priority, interval, paused, journalRetention, maxClockSkew, DEFAULT_PURGE_INTERVAL,
                DEFAULT_NODE_RETENTION, Map.of());
    }

    public SyncSettings {
        Names.requireName("sync", name);
        nodes = List.copyOf(nodes);
        tables = List.copyOf(tables);
        priority = List.copyOf(priority);
        resyncNeeded = Map.copyOf(resyncNeeded);
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
        boolean priorityUsed = Strategies.kind(strategy) == Strategies.Kind.PRIORITY
                || tables.stream().anyMatch(t -> Strategies.kind(t.strategy()) == Strategies.Kind.PRIORITY);
        if (priorityUsed && priority.isEmpty()) {
            throw new UsageException("sync " + name + ": the priority strategy needs --priority NODE,NODE,... naming the order of the nodes");
        }
        if (interval.isNegative() || interval.isZero()) {
            throw new UsageException("sync " + name + ": --interval must be positive, got " + interval);
        }
        if (journalRetention.isNegative() || journalRetention.isZero()) {
            throw new UsageException("sync " + name + ": --journal-retention must be positive, got " + journalRetention);
        }
        if (maxClockSkew.isNegative() || maxClockSkew.isZero()) {
            throw new UsageException("sync " + name + ": --max-clock-skew must be positive, got " + maxClockSkew);
        }
        if (purgeInterval.isNegative()) {
            throw new UsageException("sync " + name + ": --purge-interval must not be negative, got " + purgeInterval);
        }
        if (nodeRetention.isNegative() || nodeRetention.isZero()) {
            throw new UsageException("sync " + name + ": --node-retention must be positive, got " + nodeRetention);
        }
    }

    public Optional<NodeId> node(String nodeName) {
        return nodes.stream().filter(n -> n.name().equals(nodeName)).findFirst();
    }

    /** The same sync with other tables (or other table settings). */
    public SyncSettings withTables(List<TableSettings> other) {
        return new SyncSettings(name, nodes, other, strategy, priority, interval, paused, journalRetention, maxClockSkew, purgeInterval,
                nodeRetention, resyncNeeded);
    }

    /** The same sync with another purge interval and node retention. */
    public SyncSettings withLedgerRetention(Duration otherPurgeInterval, Duration otherNodeRetention) {
        return new SyncSettings(name, nodes, tables, strategy, priority, interval, paused, journalRetention, maxClockSkew,
                otherPurgeInterval, otherNodeRetention, resyncNeeded);
    }

    /** The nodes that rounds reconcile: all but those waiting for a resync. */
    public List<NodeId> activeNodes() {
        return nodes.stream().filter(n -> !resyncNeeded.containsKey(n.name())).toList();
    }

    public String strategyFor(TableSettings t) {
        return t.strategy() != null ? t.strategy() : strategy;
    }
}
