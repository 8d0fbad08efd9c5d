package dev.ibex.cli;

import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.Strategies;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "table", mixinStandardHelpOptions = true, description = "Per-table replication control: add, remove, pause, resume, strategy.",
        subcommands = {TableCommand.Add.class, TableCommand.Remove.class, TableCommand.Pause.class, TableCommand.Resume.class,
                TableCommand.SetStrategy.class})
final class TableCommand {

    @Command(name = "add", mixinStandardHelpOptions = true, description = "Add tables to a sync (same checks as 'sync add').")
    static final class Add extends ControlCommand {
        @Parameters(index = "0", paramLabel = "SYNC")
        String sync;
        @Parameters(index = "1..*", arity = "1..*", paramLabel = "TABLE")
        String[] tables;
        @Option(names = "--strategy", description = "Strategy for these tables (default: the sync's).")
        String strategy;
        @Option(names = "--initial-copy-from", paramLabel = "NODE", description = "Copy the tables' rows from this node to the others.")
        String copyFrom;
        @Mixin
        JsonOption json;

        @Override
        public Integer call() {
            List<TableSettings> ts = SyncCommand.refs(tables).stream().map(t -> new TableSettings(t, strategy, false, null)).toList();
            try (Session s = new Session(control()); CopyProgress progress = new CopyProgress()) {
                List<TableShape> shapes = s.installer().addTables(sync, ts, copyFrom, progress);
                TableKeys.print(out(), json.requested, sync, shapes, ts.size() + " table(s) added to sync " + sync);
                SequencesCommand.warn(s, sync, ts.stream().map(TableSettings::table).toList(), err());
                return Cli.OK;
            }
        }
    }

    @Command(name = "remove", mixinStandardHelpOptions = true, description = "Remove tables from a sync and their capture.")
    static final class Remove extends ControlCommand {
        @Parameters(index = "0", paramLabel = "SYNC")
        String sync;
        @Parameters(index = "1..*", arity = "1..*", paramLabel = "TABLE")
        String[] tables;

        @Override
        public Integer call() {
            try (Session s = new Session(control())) {
                s.installer().removeTables(sync, SyncCommand.refs(tables)).forEach(w -> err().println("ibex: warning: " + w));
                out().println(tables.length + " table(s) removed from sync " + sync);
                return Cli.OK;
            }
        }
    }

    /** Pauses or resumes tables: the same arguments, one flag apart. */
    abstract static class SetPaused extends ControlCommand {
        @Parameters(index = "0", paramLabel = "SYNC")
        String sync;
        @Parameters(index = "1..*", arity = "1..*", paramLabel = "TABLE")
        String[] tables;

        abstract boolean paused();

        @Override
        public Integer call() {
            try (ControlStore c = control().open()) {
                c.tables().setPaused(sync, SyncCommand.refs(tables), paused(), paused() ? "paused by operator" : null);
                if (!paused()) {
                    c.rounds().kick(sync);
                }
                out().println(tables.length + " table(s) " + (paused() ? "paused" : "resumed") + " in sync " + sync);
                return Cli.OK;
            }
        }
    }

    @Command(name = "pause", mixinStandardHelpOptions = true, description = "Stop replicating tables (capture goes on).")
    static final class Pause extends SetPaused {
        @Override
        boolean paused() {
            return true;
        }
    }

    @Command(name = "resume", mixinStandardHelpOptions = true, description = "Resume paused tables; they catch up with nothing lost.")
    static final class Resume extends SetPaused {
        @Override
        boolean paused() {
            return false;
        }
    }

    @Command(name = "strategy", mixinStandardHelpOptions = true, description = "Set the conflict strategy of tables (or 'default').")
    static final class SetStrategy extends ControlCommand {
        @Parameters(index = "0", paramLabel = "SYNC")
        String sync;
        @Parameters(index = "1", paramLabel = "STRATEGY", description = "latest, priority, manual, custom:CLASS[:ARGUMENT] or default (the sync's).")
        String strategy;
        @Parameters(index = "2..*", arity = "1..*", paramLabel = "TABLE")
        String[] tables;

        @Override
        public Integer call() {
            try (Session s = new Session(control())) {
                List<TableRef> refs = SyncCommand.refs(tables);
                s.control.tables().requireMembers(sync, refs);
                String chosen = "default".equals(strategy) ? null : Strategies.validate(strategy);
                SyncSettings before = s.control.syncs().get(sync);
                s.installer().update(before.withTables(before.tables().stream()
                        .map(t -> refs.contains(t.table()) ? new TableSettings(t.table(), chosen, t.paused(), t.pauseReason()) : t).toList()));
                out().println(tables.length + " table(s) of sync " + sync + " now use strategy " + strategy);
                return Cli.OK;
            }
        }
    }
}
