package dev.ibex.cli;

import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.fence.Engines;
import dev.ibex.engine.status.EngineStatus;
import java.io.PrintWriter;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code ibex engines}: every engine that ran against the control database, as it last described itself. */
@Command(name = "engines", mixinStandardHelpOptions = true, description = {
        "The engines that ran against this control database: state, syncs owned, last heartbeat.",
        "By name: cluster address (blank when standalone), state, syncs owned, version and the age of the last heartbeat.",
        "Read from the control database alone, so it answers when no engine runs. Every engine writes its row every 2 seconds;",
        "state is up, stopping, stopped, in a cluster also joining, leaving or exiting (its membership status), or not",
        "responding (not stopped, but no heartbeat for more than 10 seconds: the engine died, hangs or cannot reach the",
        "control database). --json prints a list of engines."})
final class EnginesCommand extends ControlCommand {
    @Mixin
    JsonOption json;

    @Override
    public Integer call() {
        try (ControlStore c = control().open()) {
            List<EngineStatus> engines = new Engines(c.dataSource()).list().stream().map(EngineStatus::of).toList();
            print(out(), engines);
            return Cli.OK;
        }
    }

    private void print(PrintWriter out, List<EngineStatus> engines) {
        if (json.requested) {
            Output.json(out, engines);
        } else if (engines.isEmpty()) {
            out.println("no engine has run against this control database: start one with 'ibex start'");
            out.flush();
        } else {
            Output.table(out, List.of("NAME", "ADDRESS", "STATE", "SYNCS", "VERSION", "LAST HEARTBEAT"), engines.stream()
                    .map(e -> Output.row(e.name(), e.address(), e.state(), e.syncsOwned(), e.version(), age(e.heartbeatAgeSeconds()) + " ago"))
                    .toList());
        }
    }

    /** {@code 42 s}, {@code 5 min}, {@code 3 h}, {@code 2 d}: an age in the largest unit that keeps two or more of it. */
    static String age(long seconds) {
        if (seconds < 120) {
            return seconds + " s";
        }
        if (seconds < 2 * 3600) {
            return seconds / 60 + " min";
        }
        return seconds < 2 * 86_400 ? seconds / 3600 + " h" : seconds / 86_400 + " d";
    }
}
