package dev.ibex.conflict;

/**
 * Picks the outcome among concurrent changes to one row. The service-provider interface for
 * {@code custom:CLASS} strategies as well as the built-in ones.
 *
 * <p>Contract: {@link #resolve} must be deterministic and must not depend on the order of
 * {@link Conflict#sides()}, because every round must reach the same outcome for the same
 * inputs. It must not do I/O and must not throw for ordinary inputs; a conflict is not an error.
 * Implementations need a public no-argument constructor.
 */
public interface ConflictResolver {
    Resolution resolve(Conflict conflict);

    /** The name recorded in the conflict journal, e.g. {@code latest}. */
    String name();
}
