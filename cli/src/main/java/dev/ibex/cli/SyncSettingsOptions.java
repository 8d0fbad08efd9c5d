package dev.ibex.cli;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.config.Strategies;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableSettings;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * The settings of a sync that {@code sync add} takes and {@code sync set} changes, declared once.
 * A field is null when its option was not given: {@code sync add} then uses the default its help
 * names, {@code sync set} keeps the sync's current value. Every given value is checked before
 * anything is stored.
 */
final class SyncSettingsOptions {
    @Option(names = "--strategy", paramLabel = "STRATEGY", description = "How concurrent changes to a row are decided: latest (the "
            + "newest change wins), priority (the first node of --priority wins), manual (held until 'ibex conflicts resolve'), "
            + "custom:CLASS[:ARGUMENT] (your ConflictResolver). A new sync: latest.")
    String strategy;
    @Option(names = "--priority", split = ",", paramLabel = "NODE",
            description = "Node order for the priority strategy, comma-separated ('' for none).")
    List<String> priority;
    @Option(names = "--interval", paramLabel = "DURATION",
            description = "Time between rounds when nothing wakes the engine (a new sync: 5s).")
    String interval;
    @Option(names = "--journal-retention", paramLabel = "DURATION",
            description = "How long the conflict journal keeps decided and applied entries; open ones stay (a new sync: 30d).")
    String journalRetention;
    @Option(names = "--max-clock-skew", paramLabel = "DURATION",
            description = "Node clock skew above which 'ibex status' warns (a new sync: 1s).")
    String maxClockSkew;
    @Option(names = "--purge-interval", paramLabel = "DURATION",
            description = "How often the engine deletes ledger entries that every node holds; 0s: every round (a new sync: 1m).")
    String purgeInterval;
    @Option(names = "--node-retention", paramLabel = "DURATION", description = "How long a node may stay unreachable before it is "
            + "marked as needing 'ibex node resync' and left out of rounds, so that it no longer holds back ledger purging "
            + "(a new sync: 7d).")
    String nodeRetention;

    /** The given settings, parsed and checked; null where not given. */
    record Given(String strategy, List<String> priority, Duration interval, Duration journalRetention, Duration maxClockSkew,
                 Duration purgeInterval, Duration nodeRetention) {
        boolean none() {
            return strategy == null && priority == null && interval == null && journalRetention == null && maxClockSkew == null
                    && purgeInterval == null && nodeRetention == null;
        }

        /** A new sync with these settings and the defaults for the others. */
        SyncSettings newSync(String name, List<NodeId> nodes, List<TableSettings> tables) {
            return new SyncSettings(name, nodes, tables, or(strategy, "latest"), or(priority, List.of()), or(interval, Duration.ofSeconds(5)),
                    false, or(journalRetention, Duration.ofDays(30)), or(maxClockSkew, Duration.ofSeconds(1)),
                    or(purgeInterval, Duration.ofMinutes(1)), or(nodeRetention, Duration.ofDays(7)), Map.of());
        }

        /** {@code before} with these settings changed and the others kept. */
        SyncSettings over(SyncSettings before) {
            return new SyncSettings(before.name(), before.nodes(), before.tables(), or(strategy, before.strategy()),
                    or(priority, before.priority()), or(interval, before.interval()), before.paused(),
                    or(journalRetention, before.journalRetention()), or(maxClockSkew, before.maxClockSkew()),
                    or(purgeInterval, before.purgeInterval()), or(nodeRetention, before.nodeRetention()), before.resyncNeeded());
        }

        private static <T> T or(T given, T otherwise) {
            return given == null ? otherwise : given;
        }
    }

    /** Parses and checks every given value; refuses the first bad one naming its option. */
    Given given() {
        if (strategy != null) {
            Strategies.validate(strategy);
        }
        return new Given(strategy, priority == null ? null : priority.stream().filter(p -> !p.isBlank()).toList(),
                interval == null ? null : Durations.positive("--interval", interval, "5s"),
                journalRetention == null ? null : Durations.positive("--journal-retention", journalRetention, "30d"),
                maxClockSkew == null ? null : Durations.positive("--max-clock-skew", maxClockSkew, "1s"),
                purgeInterval == null ? null : Durations.notNegative("--purge-interval", purgeInterval, "1m"),
                nodeRetention == null ? null : Durations.positive("--node-retention", nodeRetention, "7d"));
    }
}
