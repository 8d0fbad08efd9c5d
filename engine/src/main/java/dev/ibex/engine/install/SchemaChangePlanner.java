package dev.ibex.engine.install;

import dev.ibex.engine.UsageException;
import dev.ibex.engine.config.TableRef;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * Decides from a dry run of a DDL script what rolling it out to a sync's nodes means: which of the
 * sync's tables change shape (they pause while the change runs), which tables the script creates
 * (they join the sync), or why it cannot be made safe while applications write (refused before
 * anything changes, with the way to do it instead). Pure: the catalog as it was before and after
 * the script ran comes in, a plan or a {@link UsageException} comes out.
 */
public final class SchemaChangePlanner {
    /** A column as the catalog numbers it ({@code attnum} survives a rename and a type change); key position 0: not a key column. */
    public record Column(int number, String name, String type, boolean notNull, int keyPosition) {
        boolean key() {
            return keyPosition > 0;
        }
    }

    /**
     * What the dry run saw: the tables before and after, rows the script changed, added columns with
     * a mutable default, and (when not null) the node's refusal of the script while Ibex's capture
     * triggers were in place (the run then went without them).
     */
    public record DryRun(Map<TableRef, List<Column>> before, Map<TableRef, List<Column>> after, List<String> changedRows,
                         List<String> mutableDefaults, String blockedByCapture) {
    }

    /** The sync's tables whose shape changes, and the tables the script creates (in the dry run's order). */
    public record SchemaChangePlan(List<TableRef> changed, List<TableRef> created) {
        public SchemaChangePlan {
            changed = List.copyOf(changed);
            created = List.copyOf(created);
        }
    }

    private SchemaChangePlanner() {
    }

    public static SchemaChangePlan plan(String sync, Set<TableRef> syncTables, DryRun run) {
        if (!run.changedRows().isEmpty()) {
            throw new UsageException("the script changes rows (of " + String.join(", ", run.changedRows()) + "): run data changes as "
                    + "ordinary writes on one node, Ibex replicates them; give 'ibex schema apply' DDL only");
        }
        List<TableRef> changed = new ArrayList<>();
        for (TableRef t : syncTables.stream().sorted().toList()) {
            List<Column> before = run.before().get(t);
            if (before == null) {
                continue; // not on the dry run's node: the rollout names the nodes where it is missing
            }
            List<Column> after = run.after().get(t);
            if (after == null) {
                throw new UsageException("the script drops or renames table " + t + " of sync " + sync + "; remove it from the sync "
                        + "first with 'ibex table remove " + sync + " " + t + "'");
            }
            if (!before.equals(after)) {
                requireSameKey(t, before, after);
                changed.add(t);
            }
        }
        if (!run.mutableDefaults().isEmpty()) {
            throw new UsageException("the script adds column " + run.mutableDefaults().get(0) + " with a default that is not immutable, "
                    + "so each node would fill its rows with values of its own: add the column without a default, then fill it with an "
                    + "UPDATE on one node (Ibex replicates it) and set the default afterwards");
        }
        List<TableRef> created = new ArrayList<>();
        for (Map.Entry<TableRef, List<Column>> e : run.after().entrySet()) {
            if (run.before().containsKey(e.getKey())) {
                continue;
            }
            if (e.getValue().stream().noneMatch(Column::key)) {
                throw new UsageException("table " + e.getKey() + ", created by the script, has no primary key and no unique index over NOT NULL columns; add a primary key in the script "
                        + "(a table joins the sync with its key)");
            }
            created.add(e.getKey());
        }
        if (run.blockedByCapture() != null) {
            throw new UsageException(run.blockedByCapture() + "; fix the script (nothing changed)");
        }
        return new SchemaChangePlan(changed, created);
    }

    /** Refuses a change to the key: the ledger, the change logs and the capture triggers of every node are keyed by it. */
    private static void requireSameKey(TableRef t, List<Column> before, List<Column> after) {
        for (Column k : before.stream().filter(Column::key).toList()) {
            Optional<Column> now = after.stream().filter(c -> c.number() == k.number()).findFirst();
            if (now.isEmpty()) {
                throw keyChange(t, "drops key column " + k.name());
            }
            if (!now.get().type().equals(k.type())) {
                throw keyChange(t, "changes the type of key column " + k.name() + " from " + k.type() + " to " + now.get().type());
            }
            if (!now.get().name().equals(k.name())) {
                throw new UsageException("the script renames key column " + k.name() + " of table " + t + " to " + now.get().name()
                        + ": Ibex keeps the key columns' names in its ledger and change logs on every node, so keep the name, or add "
                        + "a new table with the new key, move the data and swap the tables in the sync");
            }
        }
        List<Integer> keyBefore = before.stream().filter(Column::key).sorted(java.util.Comparator.comparingInt(Column::keyPosition))
                .map(Column::number).toList();
        List<Integer> keyAfter = after.stream().filter(Column::key).sorted(java.util.Comparator.comparingInt(Column::keyPosition))
                .map(Column::number).toList();
        if (!Objects.equals(keyBefore, keyAfter)) {
            throw keyChange(t, "changes the key");
        }
    }

    private static UsageException keyChange(TableRef t, String what) {
        return new UsageException("the script " + what + " of table " + t + ", which cannot be done while nodes take writes: keep the "
                + "key, or add a new table with the new key, move the data and swap the tables in the sync");
    }
}
