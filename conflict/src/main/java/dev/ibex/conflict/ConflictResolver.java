package dev.ibex.conflict;

/**
 * Picks the outcome among concurrent changes to one row: the service-provider interface behind
 * {@code custom:CLASS} strategies, and behind the built-in ones.
 *
 * <p>A round calls {@link #resolve} only for a real conflict: two or more sides (at least one per
 * distinct version), none of which has seen another's change. A change made after seeing another
 * never reaches a resolver; it simply wins. Each side gives its node, its row image ({@code null}
 * when the row is deleted on that node), its change timestamp and version, and, when {@link
 * #needsBase()} is true, its base: the row before that node's unseen changes.
 *
 * <p>Contract, because every master must reach the same outcome for the same inputs in any round:
 * <ul>
 *   <li>deterministic: the result depends only on the sides, never on time, randomness or state;</li>
 *   <li>independent of the order of {@link Conflict#sides()} (sort them if you iterate);</li>
 *   <li>no I/O, and no exception for ordinary input: a conflict is not an error;</li>
 *   <li>a merged row must have the table's columns (use {@link RowImage#with} on a side's image)
 *       and keep the conflict's key;</li>
 *   <li>a public no-argument constructor, or a public constructor taking one {@code String} when the
 *       strategy is written {@code custom:CLASS:ARGUMENT}.</li>
 * </ul>
 */
public interface ConflictResolver {
    Resolution resolve(Conflict conflict);

    /** The name recorded in the conflict journal, e.g. {@code latest}. */
    String name();

    /**
     * True when this resolver reads {@link Side#baseImage()}. Capture then records, for each row,
     * the image before a node's unseen changes; this costs a little on every captured change, so
     * the built-in strategies do not ask for it.
     */
    default boolean needsBase() {
        return false;
    }
}
