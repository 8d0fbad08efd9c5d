package dev.ibex.engine.metrics;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The engine's health for {@code GET /health}: up while the engine runs and its control database
 * answers (a connection that validates, through a {@link CachedReading} so that a dead database
 * answers within the bound); down otherwise, saying why.
 */
final class HealthCheck {
    /** What {@code /health} answers: up or down, and the state of the engine and of the control database in words. */
    record Health(boolean up, String engine, String controlDatabase) {
        Map<String, Object> json() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("status", up ? "up" : "down");
            m.put("engine", engine);
            m.put("controlDatabase", controlDatabase);
            return m;
        }
    }

    /** What {@link #engine} says while the engine runs. */
    static final String RUNNING = "running";

    private final Supplier<String> engine;
    private final CachedReading<Boolean> control;

    /**
     * @param engine  the engine's state: {@value #RUNNING}, or what it does instead (stopping, stopped)
     * @param control reads whether a connection to the control database validates
     */
    HealthCheck(Supplier<String> engine, CachedReading<Boolean> control) {
        this.engine = engine;
        this.control = control;
    }

    Health check() {
        String state = engine.get();
        CachedReading.Reading<Boolean> c = control.get();
        String controlState = !c.ok() ? "unreachable: " + c.error() : Boolean.TRUE.equals(c.value()) ? "reachable"
                : "unreachable: the connection did not validate";
        return new Health(RUNNING.equals(state) && "reachable".equals(controlState), state, controlState);
    }
}
