package dev.ibex.cli;

import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.runtime.Engine;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

@Command(name = "start", mixinStandardHelpOptions = true,
        description = "Run the engine in the foreground until SIGTERM or Ctrl-C; a round in flight stops after the chunk "
                + "it is applying (or is abandoned after 15 s), with nothing half-applied.")
final class StartCommand implements Callable<Integer> {
    @Mixin
    ControlOptions control;
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws InterruptedException {
        ControlStore c = control.open();
        Engine engine = Engine.start(c);
        PrintWriter out = spec.commandLine().getOut();
        Thread hook = new Thread(() -> {
            out.println("ibex engine stopping: rounds in flight end after the chunk they are applying");
            out.flush();
            engine.close();
            engine.stopReport().forEach(line -> out.println("ibex engine stopped: " + line));
            out.println("ibex engine stopped");
            out.flush();
            c.close();
        }, "ibex-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        out.println("ibex engine running (" + c.syncs().size() + " sync(s)); stop with SIGTERM or Ctrl-C");
        out.flush();
        engine.awaitTermination();
        if (!engine.stoppedOnRequest()) {
            throw Cli.failed("the engine stopped by itself; see the log above");
        }
        return Cli.OK;
    }
}
