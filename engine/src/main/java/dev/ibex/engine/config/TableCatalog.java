package dev.ibex.engine.config;

import static dev.ibex.schema.control.jooq.Tables.SYNC;
import static dev.ibex.schema.control.jooq.Tables.SYNC_TABLE;

import dev.ibex.engine.UsageException;
import dev.ibex.engine.fence.Fence;
import java.util.List;
import java.util.Optional;
import org.jooq.DSLContext;
import org.jooq.impl.DSL;

/** The tables of the syncs: which sync each belongs to, its strategy and whether it is paused (and why). */
public final class TableCatalog {
    private final DSLContext dsl;

    TableCatalog(DSLContext dsl) {
        this.dsl = dsl;
    }

    private void requireSync(String sync) {
        if (!dsl.fetchExists(SYNC, SYNC.NAME.eq(sync))) {
            throw SyncCatalog.unknown(sync);
        }
    }

    public Optional<String> syncOf(TableRef t) {
        return dsl.select(SYNC_TABLE.SYNC_NAME).from(SYNC_TABLE)
                .where(SYNC_TABLE.TABLE_SCHEMA.eq(t.schema()), SYNC_TABLE.TABLE_NAME.eq(t.name())).fetchOptional(SYNC_TABLE.SYNC_NAME);
    }

    void requireFree(TableRef t) {
        Optional<String> owner = syncOf(t);
        if (owner.isPresent()) {
            throw new UsageException("table " + t + " is already in sync " + owner.get() + "; a table belongs to one sync");
        }
    }

    static void insertTables(DSLContext tx, String sync, List<TableSettings> tables) {
        for (TableSettings t : tables) {
            tx.insertInto(SYNC_TABLE).set(SYNC_TABLE.SYNC_NAME, sync).set(SYNC_TABLE.TABLE_SCHEMA, t.table().schema())
                    .set(SYNC_TABLE.TABLE_NAME, t.table().name()).set(SYNC_TABLE.STRATEGY, t.strategy())
                    .set(SYNC_TABLE.PAUSED, t.paused()).set(SYNC_TABLE.PAUSE_REASON, t.pauseReason()).execute();
        }
    }

    public void add(String sync, List<TableSettings> tables) {
        requireSync(sync);
        tables.forEach(t -> requireFree(t.table()));
        dsl.transaction(cfg -> insertTables(DSL.using(cfg), sync, tables));
    }

    public void remove(String sync, List<TableRef> tables) {
        requireMembers(sync, tables);
        dsl.transaction(cfg -> tables.forEach(t -> DSL.using(cfg).deleteFrom(SYNC_TABLE)
                .where(SYNC_TABLE.TABLE_SCHEMA.eq(t.schema()), SYNC_TABLE.TABLE_NAME.eq(t.name())).execute()));
    }

    public void setPaused(String sync, List<TableRef> tables, boolean paused, String reason) {
        requireMembers(sync, tables);
        dsl.transaction(cfg -> tables.forEach(t -> DSL.using(cfg).update(SYNC_TABLE).set(SYNC_TABLE.PAUSED, paused)
                .set(SYNC_TABLE.PAUSE_REASON, paused ? reason : null)
                .where(SYNC_TABLE.TABLE_SCHEMA.eq(t.schema()), SYNC_TABLE.TABLE_NAME.eq(t.name())).execute()));
    }

    /** Pauses a table of the sync owned at {@code fence} (a round that cannot reconcile it), in a transaction that checks the fence. */
    public void pause(Fence fence, TableRef table, String reason) {
        requireMembers(fence.sync(), List.of(table));
        dsl.transaction(cfg -> ControlStore.fenced(cfg, fence).update(SYNC_TABLE).set(SYNC_TABLE.PAUSED, true)
                .set(SYNC_TABLE.PAUSE_REASON, reason)
                .where(SYNC_TABLE.TABLE_SCHEMA.eq(table.schema()), SYNC_TABLE.TABLE_NAME.eq(table.name())).execute());
    }

    public void requireMembers(String sync, List<TableRef> tables) {
        requireSync(sync);
        for (TableRef t : tables) {
            String owner = syncOf(t).orElseThrow(() -> new UsageException("table " + t + " is not in sync " + sync));
            if (!owner.equals(sync)) {
                throw new UsageException("table " + t + " is in sync " + owner + ", not in " + sync);
            }
        }
    }
}
