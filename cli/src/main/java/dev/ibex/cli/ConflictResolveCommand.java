package dev.ibex.cli;

import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.journal.ConflictEntry;
import dev.ibex.engine.journal.ConflictJournal;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code ibex conflicts resolve ID}: records an operator's choice for a conflict held by the
 * {@code manual} strategy and kicks its sync, so that a running engine applies it to every node at once.
 */
@Command(name = "resolve", mixinStandardHelpOptions = true, description = {
        "Choose the row of a conflict held by the manual strategy (see 'ibex conflicts --open'): --take NODE keeps that node's",
        "side (a deleted side deletes the row), --row JSON gives the whole row. The next round writes it to every node;",
        "a running engine is kicked to run that round now. If a side has changed again by then, the conflict is held again."})
final class ConflictResolveCommand implements Callable<Integer> {
    @Mixin
    ControlOptions control;
    @Spec
    CommandSpec spec;
    @Parameters(paramLabel = "ID", description = "The conflict's id (the ID column of 'ibex conflicts --open').")
    long id;
    @ArgGroup(exclusive = true, multiplicity = "1")
    Choice choice;

    static final class Choice {
        @Option(names = "--take", paramLabel = "NODE", required = true, description = "Keep this node's side of the conflict.")
        String take;
        @Option(names = "--row", paramLabel = "JSON", required = true,
                description = "The row to keep: a JSON object with every column, e.g. '{\"id\": 1, \"name\": \"x\"}'.")
        String row;
    }

    @Override
    public Integer call() {
        try (ControlStore c = control.open()) {
            ConflictEntry e = new ConflictJournal(c.dsl()).resolve(id, choice.take, choice.row);
            PrintWriter out = spec.commandLine().getOut();
            boolean paused = c.syncs().get(e.sync()).paused();
            out.println("conflict " + id + " resolved: " + (choice.take != null ? e.resolvedBy() : "the given row") + "; the next round of sync "
                    + e.sync() + " applies it everywhere" + (paused ? " (sync " + e.sync() + " is paused: 'ibex sync resume "
                    + e.sync() + "')" : ""));
            if (!paused) {
                c.rounds().kick(e.sync());
            }
            return Cli.OK;
        }
    }
}
