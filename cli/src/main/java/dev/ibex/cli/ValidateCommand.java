package dev.ibex.cli;

import dev.ibex.engine.UsageException;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.journal.ConflictEntry;
import dev.ibex.engine.journal.ConflictJournal;
import dev.ibex.engine.journal.ConflictState;
import dev.ibex.engine.status.TableValidator;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.LockSupport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "validate", mixinStandardHelpOptions = true, description = {
        "Compare a sync's tables across all its nodes, row by row (md5 of each row, streamed in key order);",
        "list the keys that differ. Exit 0 when every table is identical on every node, 1 when any differs.",
        "With --repair-from NODE: make every other node equal to NODE for exactly the differing keys, through the",
        "engine's next round (recorded in the journal as repairs; a key written again since the validation is left",
        "to replicate as usual). Exit 0 once recorded (with --wait: once applied), 1 if --wait times out."})
final class ValidateCommand extends ControlCommand {
    @Parameters(paramLabel = "SYNC")
    String sync;
    @Option(names = "--table", paramLabel = "TABLE", description = "Only this table.")
    String table;
    @Option(names = "--max-keys", defaultValue = "20", description = "Differing (and repaired) keys listed per table (default 20).")
    int maxKeys;
    @Option(names = "--repair-from", paramLabel = "NODE", description = "Repair the differing keys on the other nodes from NODE's rows.")
    String repairFrom;
    @Option(names = "--wait", description = "With --repair-from: wait until the engine's round has applied the repairs.")
    boolean await;
    @Option(names = "--timeout", defaultValue = "60s", paramLabel = "DURATION", description = "How long --wait waits (default 60s).")
    String timeout;
    @Mixin
    JsonOption json;

    /** One table's repair: how many keys were recorded, and after waiting which were applied, superseded or still pending. */
    record TableRepair(String table, String from, long recorded, List<List<String>> heldForOperator, long applied,
                       long superseded, long pending, List<List<String>> appliedKeys, List<List<String>> supersededKeys) {
    }

    @Override
    public Integer call() {
        Duration limit = Durations.parse("--timeout", timeout);
        if (await && repairFrom == null) {
            throw new UsageException("--wait goes with --repair-from NODE");
        }
        try (Session s = new Session(control())) {
            SyncSettings settings = s.control.syncs().get(sync);
            TableRef only = table == null ? null : TableRef.parse(table);
            if (only != null && settings.tables().stream().noneMatch(t -> t.table().equals(only))) {
                throw new UsageException("table " + only + " is not in sync " + sync);
            }
            if (repairFrom != null && settings.activeNodes().stream().noneMatch(n -> n.name().equals(repairFrom))) {
                throw new UsageException("--repair-from " + repairFrom + ": not an active node of sync " + sync + "; its nodes: "
                        + settings.activeNodes().stream().map(n -> n.name()).toList());
            }
            Map<TableRef, List<ConflictJournal.RepairKey>> differing = new LinkedHashMap<>();
            List<TableValidator.TableReport> reports = TableValidator.validate(settings, only, s.nodes, maxKeys, repairFrom == null
                    ? null : (t, key, covers) -> differing.computeIfAbsent(t, k -> new ArrayList<>()).add(new ConflictJournal.RepairKey(key, covers)));
            PrintWriter out = out();
            if (repairFrom == null) {
                if (json.requested) {
                    Output.json(out, reports);
                } else {
                    print(out, reports);
                }
                return reports.stream().allMatch(r -> r.differingKeys() == 0) ? Cli.OK : Cli.FAILED;
            }
            List<TableRepair> repairs = repair(s, differing, limit);
            if (json.requested) {
                Map<String, Object> doc = new LinkedHashMap<>();
                doc.put("tables", reports);
                doc.put("repairs", repairs);
                Output.json(out, doc);
            } else {
                print(out, reports);
                printRepairs(out, repairs);
            }
            long pending = repairs.stream().mapToLong(TableRepair::pending).sum();
            if (await && pending > 0) {
                throw Cli.failed(pending + " repairs of sync " + sync + " not applied within " + timeout
                        + "; is 'ibex start' running? (they stay recorded: see 'ibex conflicts " + sync + " --open')");
            }
            return Cli.OK;
        }
    }

    /** Records the repairs, kicks the sync, and with --wait waits until no repair of this run is pending. */
    private List<TableRepair> repair(Session s, Map<TableRef, List<ConflictJournal.RepairKey>> differing, Duration limit) {
        ConflictJournal journal = new ConflictJournal(s.control.dsl());
        Map<TableRef, ConflictJournal.RecordedRepairs> recorded = new LinkedHashMap<>();
        differing.forEach((t, keys) -> recorded.put(t, journal.recordRepairs(sync, t, repairFrom, keys)));
        List<Long> ids = recorded.values().stream().flatMap(r -> r.ids().stream()).toList();
        if (ids.isEmpty()) {
            return summarize(recorded, Map.of());
        }
        s.control.rounds().kick(sync);
        Map<Long, ConflictEntry> entries = entries(journal, ids);
        Instant deadline = Instant.now().plus(limit);
        while (await && Instant.now().isBefore(deadline) && entries.values().stream().anyMatch(e -> e.status() == ConflictState.RESOLVED)) {
            LockSupport.parkNanos(Duration.ofMillis(100).toNanos());
            entries = entries(journal, ids);
        }
        return summarize(recorded, entries);
    }

    private static Map<Long, ConflictEntry> entries(ConflictJournal journal, List<Long> ids) {
        Map<Long, ConflictEntry> out = new LinkedHashMap<>();
        journal.entries(ids).forEach(e -> out.put(e.id(), e));
        return out;
    }

    private List<TableRepair> summarize(Map<TableRef, ConflictJournal.RecordedRepairs> recorded, Map<Long, ConflictEntry> entries) {
        List<TableRepair> out = new ArrayList<>();
        recorded.forEach((t, r) -> {
            List<ConflictEntry> mine = r.ids().stream().map(entries::get).filter(e -> e != null).toList();
            List<List<String>> applied = mine.stream().filter(e -> e.status() == ConflictState.APPLIED).map(ConflictEntry::key).toList();
            List<List<String>> superseded = mine.stream().filter(e -> e.status() == ConflictState.DECIDED).map(ConflictEntry::key).toList();
            out.add(new TableRepair(t.toString(), repairFrom, r.ids().size(), r.held(), applied.size(), superseded.size(),
                    r.ids().size() - applied.size() - superseded.size(), first(applied), first(superseded)));
        });
        return out;
    }

    private List<List<String>> first(List<List<String>> keys) {
        return keys.subList(0, Math.min(keys.size(), maxKeys));
    }

    private void printRepairs(PrintWriter out, List<TableRepair> repairs) {
        if (repairs.isEmpty()) {
            out.println("nothing to repair");
        }
        for (TableRepair r : repairs) {
            out.println("repair of " + r.table() + " from " + r.from() + ": " + r.recorded() + " keys recorded, " + r.applied()
                    + " applied, " + r.superseded() + " superseded (written again since the validation; replicated as usual), "
                    + r.pending() + " pending");
            r.appliedKeys().forEach(k -> out.println("  repaired key " + k));
            r.supersededKeys().forEach(k -> out.println("  superseded key " + k));
            if (!r.heldForOperator().isEmpty()) {
                out.println("  " + r.heldForOperator().size() + " keys not repaired: a conflict on them awaits an operator "
                        + "('ibex conflicts resolve'), e.g. " + r.heldForOperator().get(0));
            }
        }
        if (!await && repairs.stream().anyMatch(r -> r.pending() > 0)) {
            out.println("recorded; sync " + sync + " kicked: its engine applies them in its next round (if none runs: 'ibex start');"
                    + " --wait waits for it");
        }
        out.flush();
    }

    private static void print(PrintWriter out, List<TableValidator.TableReport> reports) {
        List<List<String>> rows = new ArrayList<>();
        for (TableValidator.TableReport r : reports) {
            rows.add(Output.row(r.table(), r.rows(), r.differingKeys() == 0 ? "identical" : r.differingKeys() + " keys differ"));
        }
        Output.table(out, List.of("TABLE", "ROWS PER NODE", "RESULT"), rows);
        for (TableValidator.TableReport r : reports) {
            for (TableValidator.Difference d : r.differences()) {
                List<String> where = new ArrayList<>();
                d.rowHash().forEach((n, h) -> where.add(n + "=" + (h == null ? "missing" : h.substring(0, 8))));
                out.println("  " + r.table() + " key " + d.key() + ": " + String.join(" ", where));
            }
        }
        out.flush();
    }
}
