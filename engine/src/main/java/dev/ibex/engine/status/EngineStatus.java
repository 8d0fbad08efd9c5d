package dev.ibex.engine.status;

import dev.ibex.engine.fence.Engines;
import java.time.Instant;

/**
 * One engine for {@code ibex engines}, as its row in {@code ibex.engine} last described it. The
 * state is the one the engine wrote ({@code up}, {@code stopping}, {@code stopped}), except that an
 * engine that has not stopped but whose heartbeat is older than {@link Engines#STALE_AFTER} is
 * {@value #NOT_RESPONDING}: it died, hangs, or cannot reach the control database.
 */
public record EngineStatus(String name, String address, String state, int syncsOwned, String version, Long pid,
                           Instant startedAt, Instant lastHeartbeatAt, long heartbeatAgeSeconds) {
    public static final String NOT_RESPONDING = "not responding";

    public static EngineStatus of(Engines.EngineRow row) {
        return new EngineStatus(row.name(), row.address(), state(row), row.syncsOwned(), row.version(), row.pid(), row.started(),
                row.heartbeat(), ageSeconds(row));
    }

    /** The engine's state as people should read it: what it wrote, or {@value #NOT_RESPONDING}. */
    static String state(Engines.EngineRow row) {
        return row.running() || Engines.STOPPED.equals(row.state()) ? row.state() : NOT_RESPONDING;
    }

    /** Whole seconds since the engine's last heartbeat, by the control database's clock. */
    static long ageSeconds(Engines.EngineRow row) {
        return Math.max(0, row.heartbeatAgeMillis() / 1000);
    }
}
