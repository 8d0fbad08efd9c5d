package dev.ibex.cli;

import dev.ibex.engine.UsageException;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.status.EngineStatus;
import dev.ibex.engine.status.StatusReader;
import dev.ibex.engine.status.SyncStatus;
import java.io.PrintWriter;
import java.time.Clock;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.concurrent.locks.LockSupport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "status", mixinStandardHelpOptions = true, description = {
        "Per sync: state, owner engine (and whether it still responds), nodes (reachable, pending changes, lag, clock skew,",
        "ledger entries and size), last round, total pending, lag, open conflicts, last error, writes its fence refused (from an",
        "engine that had lost the sync) and warnings (unreachable nodes, nodes needing a resync, clock skew above the sync's",
        "--max-clock-skew, conflicts held for an operator).",
        "Pending and lag are read from the nodes' ledgers, not from the engine's memory; clock skew is the node's clock minus",
        "the engine's as the last round measured it (measured now for a node no round has reached).",
        "--json prints a JSON document: a list of syncs. --watch redraws it every few seconds until interrupted.",
        "--check prints one line and exits with monitoring-plugin codes instead of Ibex's usual ones (the one command where",
        "exit codes mean this): 0 OK, 1 WARNING (lag at or above --warning-lag, a paused sync or table, conflicts held for an",
        "operator, clock skew beyond the sync's bound, a node that answered with an error, a failed last round), 2 CRITICAL",
        "(a node unreachable or needing a resync, an active sync that no running engine owns, lag at or above",
        "--critical-lag), 3 UNKNOWN (the state cannot be read: control database unreachable, no sync, bad options)."})
final class StatusCommand extends ControlCommand {
    /** ANSI: cursor home, erase the screen (as watch(1) redraws). */
    private static final String CLEAR_SCREEN = "\033[H\033[2J";

    @Parameters(arity = "0..1", paramLabel = "SYNC")
    String sync;
    @Mixin
    JsonOption json;
    @Option(names = "--watch", arity = "0..1", fallbackValue = "2", paramLabel = "SECONDS",
            description = "Redraw every SECONDS (default 2) until interrupted.")
    Integer watch;
    @Option(names = "--check", description = "One line and a monitoring-plugin exit code (see above).")
    boolean check;
    @Option(names = "--warning-lag", paramLabel = "DURATION", defaultValue = "1m",
            description = "With --check: WARNING from this lag on (default 1m).")
    String warningLag;
    @Option(names = "--critical-lag", paramLabel = "DURATION", defaultValue = "5m",
            description = "With --check: CRITICAL from this lag on (default 5m).")
    String criticalLag;

    @Override
    public Integer call() {
        if (check) {
            return check();
        }
        if (watch != null && watch < 1) {
            throw new UsageException("--watch: SECONDS must be 1 or more, got " + watch);
        }
        try (Session s = new Session(control())) {
            StatusReader reader = new StatusReader(s.control, s.nodes, Clock.systemUTC());
            boolean screen = watch != null && System.console() != null && !json.requested;
            do {
                List<SyncStatus> all = read(reader);
                if (watch != null) {
                    out().print(screen ? CLEAR_SCREEN : "");
                    out().println("every " + watch + " s: ibex status" + (sync == null ? "" : " " + sync) + "    "
                            + ConflictsCommand.time(OffsetDateTime.now()) + (screen ? "    (Ctrl-C to stop)" : ""));
                }
                print(out(), all);
                if (watch != null) {
                    LockSupport.parkNanos(Duration.ofSeconds(watch).toNanos());
                }
            } while (watch != null && !Thread.currentThread().isInterrupted());
            return Cli.OK;
        }
    }

    /** {@code --check}: whatever happens, one line on standard output and a monitoring-plugin code. */
    private int check() {
        StatusCheck.Verdict verdict;
        try {
            if (watch != null || json.requested) {
                throw new UsageException("--check prints one line: drop --watch and --json");
            }
            Duration warning = Durations.positive("--warning-lag", warningLag, "1m");
            Duration critical = Durations.positive("--critical-lag", criticalLag, "5m");
            if (critical.compareTo(warning) < 0) {
                throw new UsageException("--critical-lag must be at least --warning-lag");
            }
            try (Session s = new Session(control())) {
                verdict = StatusCheck.of(read(new StatusReader(s.control, s.nodes, Clock.systemUTC())), warning, critical);
            }
        } catch (RuntimeException e) {
            verdict = StatusCheck.unknown(Redactor.text(String.valueOf(e.getMessage())));
        }
        out().println(verdict.line());
        out().flush();
        return verdict.code();
    }

    private List<SyncStatus> read(StatusReader reader) {
        return sync == null ? reader.all() : List.of(reader.read(sync));
    }

    private void print(PrintWriter out, List<SyncStatus> all) {
        if (json.requested) {
            Output.json(out, all);
            return;
        }
        if (all.isEmpty()) {
            out.println("no syncs: add one with 'ibex sync add'");
        }
        for (SyncStatus st : all) {
            printOne(out, st);
        }
        out.flush();
    }

    static void printOne(PrintWriter out, SyncStatus st) {
        out.printf("sync %s: %s, strategy %s, %d pending, lag %s, %d open conflict(s)%n", st.sync(), st.state(), st.strategy(),
                st.pending(), st.lagSeconds() == null ? "0 s" : String.format("%.3f s", st.lagSeconds()), st.openConflicts());
        out.println("  owner: " + owner(st.owner()));
        if (st.fenceRejections() > 0) {
            out.printf("  fence rejections: %d, the last at %s: %s%n", st.fenceRejections(), second(st.lastFenceRejectionAt()),
                    st.lastFenceRejection());
        }
        st.warnings().forEach(w -> out.println("WARNING: " + w));
        Output.table(out, List.of("NODE", "REACHABLE", "PENDING", "LAG", "CLOCK SKEW (LAST ROUND)", "LEDGER ROWS", "LEDGER SIZE", "ERROR"),
                st.nodes().stream().map(n -> Output.row(n.node(), n.resyncNeeded() != null ? "NEEDS RESYNC" : n.reachable() ? "yes" : "NO",
                        n.pending(), n.lagSeconds() == null ? "" : String.format("%.3f s", n.lagSeconds()),
                        n.clockSkewMillis() == null ? "" : n.clockSkewMillis() + " ms", n.ledgerRows(), bytes(n.ledgerBytes()), n.error()))
                        .toList());
        st.tables().stream().filter(SyncStatus.TableStatus::paused)
                .forEach(t -> out.println("  table " + t.table() + " PAUSED: " + t.pauseReason()));
        st.tables().stream().filter(t -> t.key() != null && !t.key().startsWith("primary key"))
                .forEach(t -> out.println("  table " + t.table() + " is keyed by " + t.key()));
        SyncStatus.LastRound r = st.lastRound();
        if (r == null) {
            out.println("  last round: none yet");
        } else {
            out.printf("  last round: %s, %d ms, %s, %d keys decided, %d rows applied %s, %d conflicts%n", r.startedAt(),
                    r.durationMillis(), r.outcome(), r.keysDecided(), r.rowsApplied(), r.appliedPerNode(), r.conflicts());
        }
        if (st.lastError() != null) {
            out.println("  last error (" + st.lastErrorAt() + "): " + st.lastError());
        }
        out.println();
    }

    /**
     * {@code engine eng-2 (127.0.0.1:25521) since 2026-12-06T23:40:01Z, epoch 7}, followed by what
     * the engine's own row says when it no longer runs the sync: {@code not responding for 42 s},
     * {@code stopping}, {@code stopped}.
     */
    static String owner(SyncStatus.Owner o) {
        if (o == null) {
            return "none (no engine runs this sync)";
        }
        String line = "engine " + o.engine() + " (" + (o.address() == null ? "standalone" : o.address()) + ") since "
                + second(o.since()) + ", epoch " + o.epoch();
        if (o.state() == null) {
            return line + ", no heartbeat on record";
        }
        return switch (o.state()) {
            case "up" -> line;
            case EngineStatus.NOT_RESPONDING -> line + ", not responding for " + EnginesCommand.age(o.heartbeatAgeSeconds());
            default -> line + ", " + o.state();
        };
    }

    /** A time from the status document to the second, as people read it; {@code ?} when there is none. */
    static String second(String time) {
        return time == null ? "?" : ConflictsCommand.time(OffsetDateTime.parse(time));
    }

    /** {@code 8 kB}, {@code 1.5 MB}: a size in the units PostgreSQL's pg_size_pretty uses. */
    static String bytes(long n) {
        String[] units = {"bytes", "kB", "MB", "GB", "TB"};
        double v = n;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return u == 0 ? n + " bytes" : String.format(java.util.Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
