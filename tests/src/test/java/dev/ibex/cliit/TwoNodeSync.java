package dev.ibex.cliit;

import dev.ibex.testkit.PgServer;
import java.util.List;

/**
 * Two real servers, {@code a} and {@code b}, each with table {@code t (id int primary key, v
 * text)}, a control database on {@code a}, and sync {@code s} over both (interval 1 s), set up
 * through the CLI as an operator would. Commands run with {@code --control} appended. At most one
 * in-process engine runs against it at a time; closing the fixture stops it first.
 */
final class TwoNodeSync implements AutoCloseable {
    final PgServer a;
    final PgServer b;
    final String control;
    private InProcessEngine engine;

    private TwoNodeSync(PgServer a, PgServer b) {
        this.a = a;
        this.b = b;
        this.control = a.jdbcUrl("ibex_control");
    }

    static TwoNodeSync start(String prefix) {
        TwoNodeSync s = new TwoNodeSync(PgServer.start(prefix + "-a"), PgServer.start(prefix + "-b"));
        for (PgServer server : List.of(s.a, s.b)) {
            server.execute("postgres", "create table t (id int primary key, v text)");
        }
        s.a.createDatabase("ibex_control");
        s.ok("setup");
        s.ok("node", "add", "a", "--url", s.a.jdbcUrl("postgres"));
        s.ok("node", "add", "b", "--url", s.b.jdbcUrl("postgres"));
        s.ok("sync", "add", "s", "--nodes", "a,b", "--tables", "t", "--interval", "1s");
        return s;
    }

    /** Runs a command against this control database. */
    IbexCli.Result run(String... args) {
        return IbexCli.run(IbexCli.concat(List.of(args), "--control", control));
    }

    /** Runs a command that must succeed. */
    IbexCli.Result ok(String... args) {
        return IbexCli.ok(IbexCli.concat(List.of(args), "--control", control));
    }

    /** Starts an in-process engine against this control database. */
    InProcessEngine startEngine() {
        stopEngine();
        engine = InProcessEngine.start(control);
        return engine;
    }

    /** Stops the engine, if one runs. */
    void stopEngine() {
        if (engine != null) {
            InProcessEngine running = engine;
            engine = null;
            running.close();
        }
    }

    @Override
    public void close() {
        try {
            stopEngine();
        } finally {
            try {
                b.close();
            } finally {
                a.close();
            }
        }
    }
}
