package dev.ibex.engine.journal;

import static dev.ibex.schema.control.jooq.Tables.CONFLICT;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ibex.conflict.Decision;
import dev.ibex.conflict.Side;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.config.TableRef;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.jooq.Condition;
import org.jooq.DSLContext;
import org.jooq.impl.DSL;

/**
 * The conflict journal in the control database: every conflict a round decided, with each
 * concurrent side's node, version, change time and row image, the strategy and the winner.
 */
public final class ConflictJournal {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final TypeReference<List<String>> KEY = new TypeReference<>() { };
    private static final TypeReference<List<ConflictEntry.SideEntry>> SIDES = new TypeReference<>() { };

    private final DSLContext dsl;

    public ConflictJournal(DSLContext dsl) {
        this.dsl = dsl;
    }

    public void record(String sync, TableRef table, List<Decision> conflicts) {
        if (conflicts.isEmpty()) {
            return;
        }
        var insert = dsl.insertInto(CONFLICT, CONFLICT.SYNC_NAME, CONFLICT.TABLE_SCHEMA, CONFLICT.TABLE_NAME, CONFLICT.ROW_KEY,
                CONFLICT.STRATEGY, CONFLICT.WINNER_NODE, CONFLICT.SIDES);
        for (Decision d : conflicts) {
            insert = insert.values(sync, table.schema(), table.name(), json(d.conflict().key()), d.strategy(),
                    d.winner().author().name(), json(d.conflict().sides().stream().map(ConflictJournal::side).toList()));
        }
        insert.execute();
    }

    private static ConflictEntry.SideEntry side(Side s) {
        String at = s.stampMicros() == 0 ? null
                : Instant.ofEpochSecond(Math.floorDiv(s.stampMicros(), 1_000_000), Math.floorMod(s.stampMicros(), 1_000_000) * 1000L).toString();
        return new ConflictEntry.SideEntry(s.node().name(), s.author().name(),
                Arrays.stream(s.version().toArray()).boxed().toList(), at, s.image() == null ? null : s.image().asMap());
    }

    /** Entries newest first; null filters match everything. */
    public List<ConflictEntry> list(String sync, TableRef table, Instant since, int limit) {
        List<Condition> where = new ArrayList<>();
        if (sync != null) {
            where.add(CONFLICT.SYNC_NAME.eq(sync));
        }
        if (table != null) {
            where.add(CONFLICT.TABLE_SCHEMA.eq(table.schema()).and(CONFLICT.TABLE_NAME.eq(table.name())));
        }
        if (since != null) {
            where.add(CONFLICT.DECIDED_AT.ge(OffsetDateTime.ofInstant(since, ZoneOffset.UTC)));
        }
        return dsl.selectFrom(CONFLICT).where(DSL.and(where)).orderBy(CONFLICT.ID.desc()).limit(limit)
                .fetch(r -> new ConflictEntry(r.getId(), r.getSyncName(), r.getTableSchema(), r.getTableName(),
                        read(r.getRowKey(), KEY), r.getStrategy(), r.getWinnerNode(), read(r.getSides(), SIDES), r.getDecidedAt()));
    }

    public long count(String sync) {
        return dsl.fetchCount(CONFLICT, sync == null ? DSL.noCondition() : CONFLICT.SYNC_NAME.eq(sync));
    }

    static String json(Object o) {
        try {
            return JSON.writeValueAsString(o);
        } catch (JsonProcessingException e) {
            throw new IbexException("encoding journal entry: " + e.getMessage(), e);
        }
    }

    private static <T> T read(String s, TypeReference<T> type) {
        try {
            return JSON.readValue(s, type);
        } catch (JsonProcessingException e) {
            throw new IbexException("decoding journal entry: " + e.getMessage(), e);
        }
    }
}
