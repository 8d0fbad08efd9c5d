package dev.ibex.engine.journal;

import static dev.ibex.schema.control.jooq.Tables.LEDGER_PURGE;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ibex.conflict.VersionVector;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.RoundLocks;
import dev.ibex.engine.fence.Fence;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.round.PurgeLog;
import dev.ibex.schema.control.jooq.tables.records.LedgerPurgeRecord;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import org.jooq.DSLContext;

/** {@link PurgeLog} in the control database (table {@code ibex.ledger_purge}). */
public final class LedgerPurges implements PurgeLog {
    private static final ObjectMapper JSON = new ObjectMapper();

    private record Entries(List<List<String>> keys, List<long[]> versions) {
    }

    private final DSLContext dsl;

    public LedgerPurges(DSLContext dsl) {
        this.dsl = dsl;
    }

    @Override
    public long open(Fence fence, TableRef table, List<List<String>> keys, List<VersionVector> versions, Collection<String> nodes) {
        String entries = write(new Entries(keys, versions.stream().map(VersionVector::toArray).toList()));
        return dsl.transactionResult(cfg -> ControlStore.fenced(cfg, fence).insertInto(LEDGER_PURGE).set(LEDGER_PURGE.SYNC_NAME, fence.sync()).set(LEDGER_PURGE.TABLE_SCHEMA, table.schema())
                .set(LEDGER_PURGE.TABLE_NAME, table.name()).set(LEDGER_PURGE.ENTRIES, entries)
                .set(LEDGER_PURGE.NODES_LEFT, write(List.copyOf(nodes))).returning(LEDGER_PURGE.ID).fetchOne(LEDGER_PURGE.ID));
    }

    @Override
    public boolean copying(String sync) {
        return RoundLocks.copying(dsl, sync);
    }

    /** Whether sync {@code sync} (a column of the caller's query) has unfinished purges, as a field of that query. */
    public static org.jooq.Field<Boolean> pendingFor(org.jooq.Field<String> sync) {
        return org.jooq.impl.DSL.field(org.jooq.impl.DSL.exists(org.jooq.impl.DSL.selectOne().from(LEDGER_PURGE)
                .where(LEDGER_PURGE.SYNC_NAME.eq(sync))));
    }

    @Override
    public List<Long> pending(String sync) {
        return dsl.select(LEDGER_PURGE.ID).from(LEDGER_PURGE).where(LEDGER_PURGE.SYNC_NAME.eq(sync)).orderBy(LEDGER_PURGE.ID)
                .fetch(LEDGER_PURGE.ID);
    }

    @Override
    public Batch batch(long id) {
        LedgerPurgeRecord r = dsl.selectFrom(LEDGER_PURGE).where(LEDGER_PURGE.ID.eq(id)).fetchOne();
        if (r == null) {
            throw new IbexException("ledger purge " + id + " is gone from the control database");
        }
        try {
            Entries e = JSON.readValue(r.getEntries(), Entries.class);
            String[] nodes = JSON.readValue(r.getNodesLeft(), String[].class);
            return new Batch(id, new TableRef(r.getTableSchema(), r.getTableName()), e.keys(),
                    e.versions().stream().map(VersionVector::of).toList(), new LinkedHashSet<>(Arrays.asList(nodes)));
        } catch (JsonProcessingException e) {
            throw new IbexException("ledger purge " + id + ": unreadable entry in the control database: " + e.getOriginalMessage(), e);
        }
    }

    @Override
    public void left(Fence fence, long id, Collection<String> nodesLeft) {
        dsl.transaction(cfg -> {
            DSLContext tx = ControlStore.fenced(cfg, fence);
            if (nodesLeft.isEmpty()) {
                tx.deleteFrom(LEDGER_PURGE).where(LEDGER_PURGE.ID.eq(id)).execute();
            } else {
                tx.update(LEDGER_PURGE).set(LEDGER_PURGE.NODES_LEFT, write(List.copyOf(nodesLeft))).where(LEDGER_PURGE.ID.eq(id)).execute();
            }
        });
    }


    private static String write(Object o) {
        try {
            return JSON.writeValueAsString(o);
        } catch (JsonProcessingException e) {
            throw new IbexException("encoding a ledger purge: " + e.getOriginalMessage(), e);
        }
    }
}
