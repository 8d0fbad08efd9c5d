package dev.ibex.cliit;

import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.runtime.Engine;

/** An engine running in the test's JVM on its own control-store connection, as {@code ibex start} runs it. */
final class InProcessEngine implements AutoCloseable {
    private final ControlStore store;
    private final Engine engine;

    private InProcessEngine(ControlStore store, Engine engine) {
        this.store = store;
        this.engine = engine;
    }

    static InProcessEngine start(String control) {
        ControlStore store = ControlStore.open(control, null);
        try {
            return new InProcessEngine(store, Engine.start(store));
        } catch (RuntimeException e) {
            store.close();
            throw e;
        }
    }

    /** The engine's name: the owner that the control database records for the syncs it runs. */
    String name() {
        return engine.name();
    }

    @Override
    public void close() {
        try {
            engine.close();
        } finally {
            store.close();
        }
    }
}
