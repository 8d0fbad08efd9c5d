package dev.ibex.cli;

import dev.ibex.engine.round.RoundOutcome;
import dev.ibex.engine.fence.Engines;
import dev.ibex.engine.status.EngineStatus;
import dev.ibex.engine.status.SyncStatus;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * {@code ibex status --check}: the syncs' state as one line and a monitoring-plugin exit code
 * (Nagios, Icinga, Sensu and the like): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. The one place in
 * Ibex where exit codes mean that.
 *
 * <p>CRITICAL: replication has stopped for some node or sync — a node unreachable or waiting for
 * a resync, an active sync no engine runs (or whose engine stopped responding), lag at or above
 * the critical bound. WARNING: it goes on, but someone should look — lag at or above the warning
 * bound, a paused sync or table, conflicts held for an operator, a clock beyond the sync's skew
 * bound, a node that answered with an error, a failed last round. UNKNOWN: the state cannot be
 * read (control database unreachable, no sync configured, bad options).
 */
final class StatusCheck {
    static final int OK = 0;
    static final int WARNING = 1;
    static final int CRITICAL = 2;
    static final int UNKNOWN = 3;
    private static final List<String> NAMES = List.of("OK", "WARNING", "CRITICAL", "UNKNOWN");

    /** The exit code and the line to print. */
    record Verdict(int code, String line) {
    }

    private record Problem(int level, String text) {
    }

    private StatusCheck() {
    }

    static Verdict unknown(String why) {
        return new Verdict(UNKNOWN, "IBEX UNKNOWN - " + Cli.oneLine(why));
    }

    static Verdict of(List<SyncStatus> syncs, Duration warningLag, Duration criticalLag) {
        if (syncs.isEmpty()) {
            return unknown("no sync is configured: add one with 'ibex sync add'");
        }
        List<Problem> problems = new ArrayList<>();
        StringBuilder perf = new StringBuilder();
        double maxLag = 0;
        long pending = 0;
        for (SyncStatus s : syncs) {
            problems.addAll(problems(s, warningLag, criticalLag));
            double lag = s.lagSeconds() == null ? 0 : s.lagSeconds();
            maxLag = Math.max(maxLag, lag);
            pending += s.pending();
            perf.append(String.format(Locale.ROOT, " '%s_lag'=%.3fs;%d;%d;0 '%s_pending'=%d;;;0", s.sync(), lag,
                    warningLag.toSeconds(), criticalLag.toSeconds(), s.sync(), s.pending()));
        }
        problems.sort(Comparator.comparingInt(Problem::level).reversed());
        int code = problems.isEmpty() ? OK : problems.get(0).level();
        String text = problems.isEmpty()
                ? String.format(Locale.ROOT, "%d sync(s) replicating, %d pending, lag %.3f s", syncs.size(), pending, maxLag)
                : String.join("; ", problems.stream().map(Problem::text).toList());
        return new Verdict(code, "IBEX " + NAMES.get(code) + " - " + Cli.oneLine(text) + " |" + perf);
    }

    /** True while the owner's engine says it runs and its heartbeat is recent (not stopping, stopped or silent). */
    private static boolean runs(SyncStatus.Owner owner) {
        return owner.state() != null && !List.of(EngineStatus.NOT_RESPONDING, Engines.STOPPING, Engines.STOPPED).contains(owner.state());
    }

    private static List<Problem> problems(SyncStatus s, Duration warningLag, Duration criticalLag) {
        List<Problem> out = new ArrayList<>();
        String sync = "sync " + s.sync() + ": ";
        boolean paused = s.paused();
        if (paused) {
            out.add(new Problem(WARNING, sync + "paused"));
        } else if (s.owner() == null) {
            out.add(new Problem(CRITICAL, sync + "no engine runs it"));
        } else if (!runs(s.owner())) {
            out.add(new Problem(CRITICAL, sync + "its engine " + s.owner().engine() + " is "
                    + (s.owner().state() == null ? "not on record" : s.owner().state())));
        }
        for (SyncStatus.NodeStatus n : s.nodes()) {
            if (n.resyncNeeded() != null) {
                out.add(new Problem(CRITICAL, sync + "node " + n.node() + " needs a resync"));
            } else if (!n.reachable()) {
                out.add(new Problem(CRITICAL, sync + "node " + n.node() + " unreachable"));
            } else if (n.error() != null) {
                out.add(new Problem(WARNING, sync + "node " + n.node() + ": " + n.error()));
            }
            if (n.clockSkewMillis() != null && Math.abs(n.clockSkewMillis()) > s.maxClockSkewMillis()) {
                out.add(new Problem(WARNING, sync + "node " + n.node() + "'s clock is " + n.clockSkewMillis() + " ms off"));
            }
        }
        double lag = s.lagSeconds() == null ? 0 : s.lagSeconds();
        if (lag >= criticalLag.toMillis() / 1000.0) {
            out.add(new Problem(CRITICAL, String.format(Locale.ROOT, "%slag %.1f s", sync, lag)));
        } else if (lag >= warningLag.toMillis() / 1000.0) {
            out.add(new Problem(WARNING, String.format(Locale.ROOT, "%slag %.1f s", sync, lag)));
        }
        s.tables().stream().filter(SyncStatus.TableStatus::paused)
                .forEach(t -> out.add(new Problem(WARNING, sync + "table " + t.table() + " paused")));
        if (s.openConflicts() > 0) {
            out.add(new Problem(WARNING, sync + s.openConflicts() + " conflict(s) held for an operator"));
        }
        if (!paused && s.lastRound() != null && s.lastRound().outcome() == RoundOutcome.FAILED) {
            out.add(new Problem(WARNING, sync + "the last round failed"));
        }
        return out;
    }
}
