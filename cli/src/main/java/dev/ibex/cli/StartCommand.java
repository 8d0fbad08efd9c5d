package dev.ibex.cli;

import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.runtime.Engine;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

@Command(name = "start", mixinStandardHelpOptions = true,
        description = "Run the engine in the foreground until SIGTERM or Ctrl-C; rounds in flight finish first.")
final class StartCommand implements Callable<Integer> {
    @Mixin
    ControlOptions control;
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws InterruptedException {
        ControlStore c = control.open();
        Engine engine = Engine.start(c);
        Thread hook = new Thread(() -> {
            engine.close();
            c.close();
        }, "ibex-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        spec.commandLine().getOut().println("ibex engine running (" + c.syncs().size() + " sync(s)); stop with SIGTERM or Ctrl-C");
        spec.commandLine().getOut().flush();
        engine.awaitTermination();
        if (!engine.stoppedOnRequest()) {
            throw Cli.failed("the engine stopped by itself; see the log above");
        }
        return Cli.OK;
    }
}
