package dev.ibex.engine.journal;

import dev.ibex.engine.fence.Fence;
import static dev.ibex.schema.control.jooq.Tables.CONFLICT;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ibex.conflict.Decision;
import dev.ibex.conflict.ManualResolver;
import dev.ibex.conflict.RowImage;
import dev.ibex.conflict.Side;
import dev.ibex.conflict.VersionVector;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.Strategies;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.round.ConflictSink;
import dev.ibex.engine.round.Repair;
import dev.ibex.schema.control.jooq.tables.records.ConflictRecord;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.jooq.Condition;
import org.jooq.DSLContext;
import org.jooq.impl.DSL;

/**
 * The conflict journal in the control database: every conflict a round decided, with each
 * concurrent side's node, version, change time and row image, the strategy and the winner. Under
 * {@code manual} a conflict stays open (one entry per key) until an operator resolves it; the
 * choice is kept with the versions it covers, and the next round applies it. An operator's repair
 * ({@code ibex validate --repair-from}) is an entry of strategy {@value #REPAIR}, resolved until a
 * round applies it (or finds the key changed since, and records it decided, superseded).
 *
 * <p>A conflict is journaled once: a round that dies after journaling a chunk and before a target
 * applies it leaves the same conflict (same key, same sides with the same versions) to the next
 * round, which finds the entry and does not add another.
 */
public final class ConflictJournal implements ConflictSink {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final TypeReference<List<String>> KEY = new TypeReference<>() { };
    private static final TypeReference<List<ConflictEntry.SideEntry>> SIDES = new TypeReference<>() { };
    private static final TypeReference<Choice> CHOICE = new TypeReference<>() { };
    private static final TypeReference<RepairChoice> REPAIR_CHOICE = new TypeReference<>() { };
    /** The strategy of an operator's repair ({@code ibex validate --repair-from}): resolved until a round applies it. */
    public static final String REPAIR = "repair";
    /** The winner recorded for a repair a node's later change superseded. */
    public static final String SUPERSEDED = "(changed since)";
    /** A conflict an operator's choice is still to be applied to: open, or resolved and not yet applied. */
    private static final Condition AWAITING_OPERATOR = CONFLICT.STATUS.in(ConflictState.OPEN.label(), ConflictState.RESOLVED.label());
    /** The winner recorded when a custom resolver built a new row from several sides. */
    public static final String MERGED = "(merged)";
    /**
     * How far before its newest side's change time an entry is looked for when deciding whether a
     * conflict is already journaled: room for the clock skew between nodes and the control database.
     */
    static final Duration SKEW_MARGIN = Duration.ofMinutes(10);

    /** An operator's choice as stored: the row's columns and values (absent: delete) and the versions it covers. */
    record Choice(List<String> columns, List<String> values, boolean delete, List<Long> covers) {
    }

    /** A repair as stored: the node whose rows every node takes, and the versions the validation saw. */
    record RepairChoice(String from, List<Long> covers) {
    }

    /** One key to repair, with the join of the versions of its rows when the validation read them. */
    public record RepairKey(List<String> key, VersionVector covers) {
    }

    /** What recording repairs did: the entries recorded, and the keys left because a conflict on them awaits an operator. */
    public record RecordedRepairs(List<Long> ids, List<List<String>> held) {
    }

    private static final int BATCH = 500;

    private final DSLContext dsl;

    public ConflictJournal(DSLContext dsl) {
        this.dsl = dsl;
    }

    @Override
    public void record(Fence fence, TableRef table, List<Decision> conflicts) {
        if (conflicts.isEmpty()) {
            return;
        }
        dsl.transaction(cfg -> new ConflictJournal(ControlStore.fenced(cfg, fence)).record(fence.sync(), table, conflicts));
    }

    private void record(String sync, TableRef table, List<Decision> conflicts) {
        List<Decision> decided = new ArrayList<>();
        for (Decision d : conflicts) {
            if (Strategies.kind(d.strategy()) == Strategies.Kind.MANUAL) {
                recordManual(sync, table, d);
            } else {
                decided.add(d);
            }
        }
        // in batches: a statement of thousands of conflicts, their sides as JSON, is tens of MB of objects
        for (int from = 0; from < decided.size(); from += BATCH) {
            insert(sync, table, unjournaled(sync, table, decided.subList(from, Math.min(decided.size(), from + BATCH))));
        }
    }

    private void insert(String sync, TableRef table, List<Decision> decided) {
        if (decided.isEmpty()) {
            return;
        }
        var insert = dsl.insertInto(CONFLICT, CONFLICT.SYNC_NAME, CONFLICT.TABLE_SCHEMA, CONFLICT.TABLE_NAME, CONFLICT.ROW_KEY,
                CONFLICT.STRATEGY, CONFLICT.WINNER_NODE, CONFLICT.SIDES, CONFLICT.STATUS);
        for (Decision d : decided) {
            insert = insert.values(sync, table.schema(), table.name(), json(d.conflict().key()), d.strategy(), winner(d),
                    sides(d), ConflictState.DECIDED.label());
        }
        insert.execute();
    }

    /** The decisions whose conflict (key and sides) is not in the journal yet. */
    private List<Decision> unjournaled(String sync, TableRef table, List<Decision> decided) {
        long newest = decided.stream().mapToLong(d -> d.conflict().sides().stream().mapToLong(Side::stampMicros).max().orElse(0))
                .min().orElse(0);
        OffsetDateTime since = OffsetDateTime.ofInstant(Instant.EPOCH.plus(newest, ChronoUnit.MICROS)
                .minus(SKEW_MARGIN), ZoneOffset.UTC);
        Set<List<String>> journaled = new HashSet<>(dsl.select(CONFLICT.ROW_KEY, CONFLICT.SIDES).from(CONFLICT)
                .where(CONFLICT.SYNC_NAME.eq(sync), CONFLICT.DECIDED_AT.ge(since), CONFLICT.TABLE_SCHEMA.eq(table.schema()),
                        CONFLICT.TABLE_NAME.eq(table.name()), CONFLICT.STATUS.eq(ConflictState.DECIDED.label()),
                        CONFLICT.ROW_KEY.in(decided.stream().map(d -> json(d.conflict().key())).toList()))
                .fetch(r -> List.of(r.value1(), r.value2())));
        if (journaled.isEmpty()) {
            return decided;
        }
        return decided.stream().filter(d -> !journaled.contains(List.of(json(d.conflict().key()), sides(d)))).toList();
    }

    private static String winner(Decision d) {
        return d.merged() ? MERGED : d.winner().author().name();
    }

    private static String sides(Decision d) {
        return json(d.conflict().sides().stream().map(ConflictJournal::side).toList());
    }

    /**
     * A held conflict opens (or refreshes) the key's one open entry; an applied choice marks it
     * applied; concurrent changes that agree close any open entry as decided, or are journaled as such.
     */
    private void recordManual(String sync, TableRef table, Decision d) {
        String key = json(d.conflict().key());
        Condition openEntry = CONFLICT.SYNC_NAME.eq(sync).and(CONFLICT.TABLE_SCHEMA.eq(table.schema()))
                .and(CONFLICT.TABLE_NAME.eq(table.name())).and(CONFLICT.ROW_KEY.eq(key))
                .and(AWAITING_OPERATOR);
        if (d.held()) {
            Optional<ConflictRecord> chosen = dsl.selectFrom(CONFLICT).where(openEntry.and(CONFLICT.STATUS.eq(ConflictState.RESOLVED.label())))
                    .fetchOptional();
            if (chosen.isPresent() && covers(read(chosen.get().getResolution(), CHOICE), d)) {
                // resolved while this round ran (it read the choices before): the next round applies the choice
                return;
            }
            dsl.insertInto(CONFLICT).set(CONFLICT.SYNC_NAME, sync).set(CONFLICT.TABLE_SCHEMA, table.schema())
                    .set(CONFLICT.TABLE_NAME, table.name()).set(CONFLICT.ROW_KEY, key).set(CONFLICT.STRATEGY, d.strategy())
                    .set(CONFLICT.SIDES, sides(d)).set(CONFLICT.STATUS, ConflictState.OPEN.label())
                    .onConflict(CONFLICT.SYNC_NAME, CONFLICT.TABLE_SCHEMA, CONFLICT.TABLE_NAME, CONFLICT.ROW_KEY)
                    .where(AWAITING_OPERATOR)
                    .doUpdate().set(CONFLICT.SIDES, DSL.excluded(CONFLICT.SIDES)).set(CONFLICT.STATUS, ConflictState.OPEN.label())
                    .setNull(CONFLICT.RESOLUTION).setNull(CONFLICT.RESOLVED_BY).setNull(CONFLICT.RESOLVED_AT)
                    .set(CONFLICT.DECIDED_AT, DSL.currentOffsetDateTime())
                    .execute();
            return;
        }
        int closed = dsl.update(CONFLICT).set(CONFLICT.STATUS, d.merged() ? ConflictState.APPLIED.label() : ConflictState.DECIDED.label())
                .set(CONFLICT.WINNER_NODE, DSL.coalesce(CONFLICT.WINNER_NODE, DSL.val(winner(d))))
                .set(CONFLICT.DECIDED_AT, DSL.currentOffsetDateTime()).where(openEntry).execute();
        if (closed == 0) {
            dsl.insertInto(CONFLICT).set(CONFLICT.SYNC_NAME, sync).set(CONFLICT.TABLE_SCHEMA, table.schema())
                    .set(CONFLICT.TABLE_NAME, table.name()).set(CONFLICT.ROW_KEY, key).set(CONFLICT.STRATEGY, d.strategy())
                    .set(CONFLICT.WINNER_NODE, winner(d)).set(CONFLICT.SIDES, sides(d)).set(CONFLICT.STATUS, ConflictState.DECIDED.label())
                    .execute();
        }
    }

    private static VersionVector version(List<Long> counters) {
        return VersionVector.ofBoxed(counters.toArray(Long[]::new));
    }

    private static boolean covers(Choice c, Decision d) {
        VersionVector covered = version(c.covers());
        return d.conflict().sides().stream().allMatch(side -> covered.dominates(side.version()));
    }

    @Override
    public Map<List<String>, ManualResolver.Choice> choices(String sync, TableRef table) {
        Map<List<String>, ManualResolver.Choice> out = new LinkedHashMap<>();
        dsl.selectFrom(CONFLICT).where(CONFLICT.SYNC_NAME.eq(sync), CONFLICT.TABLE_SCHEMA.eq(table.schema()),
                CONFLICT.TABLE_NAME.eq(table.name()), CONFLICT.STATUS.eq(ConflictState.RESOLVED.label()),
                CONFLICT.STRATEGY.ne(REPAIR)).forEach(r -> {
                    Choice c = read(r.getResolution(), CHOICE);
                    RowImage row = c.delete() ? null : new RowImage(c.columns(), c.values());
                    out.put(read(r.getRowKey(), KEY), new ManualResolver.Choice(row, version(c.covers())));
                });
        return out;
    }

    /** Whether sync {@code sync} (a column of the caller's query) has repairs no round has finished, as a field of that query. */
    public static org.jooq.Field<Boolean> repairsPendingFor(org.jooq.Field<String> sync) {
        return org.jooq.impl.DSL.field(org.jooq.impl.DSL.exists(org.jooq.impl.DSL.selectOne().from(CONFLICT)
                .where(CONFLICT.SYNC_NAME.eq(sync), CONFLICT.STATUS.eq(ConflictState.RESOLVED.label()), CONFLICT.STRATEGY.eq(REPAIR))));
    }

    @Override
    public Map<TableRef, Map<List<String>, Repair>> repairs(String sync) {
        Map<TableRef, Map<List<String>, Repair>> out = new LinkedHashMap<>();
        dsl.selectFrom(CONFLICT).where(CONFLICT.SYNC_NAME.eq(sync), CONFLICT.STATUS.eq(ConflictState.RESOLVED.label()),
                CONFLICT.STRATEGY.eq(REPAIR)).forEach(r -> {
                    RepairChoice c = read(r.getResolution(), REPAIR_CHOICE);
                    Instant at = r.getResolvedAt().toInstant();
                    out.computeIfAbsent(new TableRef(r.getTableSchema(), r.getTableName()), t -> new LinkedHashMap<>())
                            .put(read(r.getRowKey(), KEY), new Repair(c.from(), version(c.covers()),
                                    ChronoUnit.MICROS.between(Instant.EPOCH, at)));
                });
        return out;
    }

    @Override
    public void repaired(Fence fence, TableRef table, List<List<String>> applied, List<List<String>> superseded) {
        dsl.transaction(cfg -> {
            DSLContext fenced = ControlStore.fenced(cfg, fence);
            finishRepairs(fenced, fence.sync(), table, applied, ConflictState.APPLIED, null);
            finishRepairs(fenced, fence.sync(), table, superseded, ConflictState.DECIDED, SUPERSEDED);
        });
    }

    private static void finishRepairs(DSLContext dsl, String sync, TableRef table, List<List<String>> keys, ConflictState to,
                                      String winner) {
        for (int from = 0; from < keys.size(); from += BATCH) {
            List<String> batch = keys.subList(from, Math.min(keys.size(), from + BATCH)).stream().map(ConflictJournal::json).toList();
            var update = dsl.update(CONFLICT).set(CONFLICT.STATUS, to.label()).set(CONFLICT.DECIDED_AT, DSL.currentOffsetDateTime());
            (winner == null ? update : update.set(CONFLICT.WINNER_NODE, winner))
                    .where(CONFLICT.SYNC_NAME.eq(sync), CONFLICT.TABLE_SCHEMA.eq(table.schema()), CONFLICT.TABLE_NAME.eq(table.name()),
                            CONFLICT.STRATEGY.eq(REPAIR), CONFLICT.STATUS.eq(ConflictState.RESOLVED.label()), CONFLICT.ROW_KEY.in(batch))
                    .execute();
        }
    }

    /**
     * Records an operator's repair of {@code keys} from node {@code from}: one resolved entry per
     * key (replacing a repair of the key still waiting), which the next round of the sync applies
     * through the normal apply path, whatever the table's strategy. A key whose conflict awaits an
     * operator under {@code manual} is left for {@code ibex conflicts resolve}.
     */
    public RecordedRepairs recordRepairs(String sync, TableRef table, String from, List<RepairKey> keys) {
        List<Long> ids = new ArrayList<>();
        Set<String> recorded = new HashSet<>();
        String by = "repair from " + from;
        for (int i = 0; i < keys.size(); i += BATCH) {
            var insert = dsl.insertInto(CONFLICT, CONFLICT.SYNC_NAME, CONFLICT.TABLE_SCHEMA, CONFLICT.TABLE_NAME, CONFLICT.ROW_KEY,
                    CONFLICT.STRATEGY, CONFLICT.WINNER_NODE, CONFLICT.SIDES, CONFLICT.STATUS, CONFLICT.RESOLUTION, CONFLICT.RESOLVED_BY,
                    CONFLICT.RESOLVED_AT);
            for (RepairKey k : keys.subList(i, Math.min(keys.size(), i + BATCH))) {
                insert = insert.values(sync, table.schema(), table.name(), json(k.key()), REPAIR, from, "[]",
                        ConflictState.RESOLVED.label(), json(new RepairChoice(from, Arrays.asList(k.covers().toBoxed()))), by,
                        OffsetDateTime.now(ZoneOffset.UTC));
            }
            insert.onConflict(CONFLICT.SYNC_NAME, CONFLICT.TABLE_SCHEMA, CONFLICT.TABLE_NAME, CONFLICT.ROW_KEY).where(AWAITING_OPERATOR)
                    .doUpdate().set(CONFLICT.WINNER_NODE, DSL.excluded(CONFLICT.WINNER_NODE))
                    .set(CONFLICT.RESOLUTION, DSL.excluded(CONFLICT.RESOLUTION)).set(CONFLICT.RESOLVED_BY, DSL.excluded(CONFLICT.RESOLVED_BY))
                    .set(CONFLICT.RESOLVED_AT, DSL.excluded(CONFLICT.RESOLVED_AT)).set(CONFLICT.DECIDED_AT, DSL.currentOffsetDateTime())
                    .where(CONFLICT.STRATEGY.eq(REPAIR))
                    .returning(CONFLICT.ID, CONFLICT.ROW_KEY).fetch()
                    .forEach(r -> {
                        ids.add(r.getId());
                        recorded.add(r.getRowKey());
                    });
        }
        List<List<String>> held = keys.stream().map(RepairKey::key).filter(k -> !recorded.contains(json(k))).toList();
        return new RecordedRepairs(ids, held);
    }

    /** The entries with these ids, oldest first. */
    public List<ConflictEntry> entries(Collection<Long> ids) {
        return dsl.selectFrom(CONFLICT).where(CONFLICT.ID.in(ids)).orderBy(CONFLICT.ID).fetch(ConflictJournal::entry);
    }

    /**
     * Records an operator's choice for an open conflict: the row of the side held by (or authored
     * by) {@code takeNode}, or {@code rowJson}, a JSON object with every column of the table. The
     * next round of the sync applies it everywhere.
     */
    public ConflictEntry resolve(long id, String takeNode, String rowJson) {
        ConflictEntry e = entry(id).orElseThrow(() -> new UsageException("no conflict " + id + " in the journal; see 'ibex conflicts --open'"));
        if (!e.status().awaitsOperator()) {
            throw new UsageException("conflict " + id + " is " + e.status() + ", not open; only conflicts held by the manual "
                    + "strategy can be resolved (see 'ibex conflicts --open')");
        }
        List<Long> covers = Arrays.asList(e.sides().stream().map(s -> version(s.version()))
                .reduce(VersionVector.EMPTY, VersionVector::join).toBoxed());
        Choice choice;
        String by;
        if (takeNode != null) {
            ConflictEntry.SideEntry side = e.sides().stream().filter(s -> s.node().equals(takeNode)).findFirst()
                    .or(() -> e.sides().stream().filter(s -> s.origin().equals(takeNode)).findFirst())
                    .orElseThrow(() -> new UsageException("--take " + takeNode + ": conflict " + id + " has sides from "
                            + e.sides().stream().map(ConflictEntry.SideEntry::node).toList()));
            choice = side.row() == null ? new Choice(List.of(), List.of(), true, covers)
                    : new Choice(List.copyOf(side.row().keySet()), new ArrayList<>(side.row().values()), false, covers);
            by = "take " + side.node();
        } else {
            choice = parseRow(e, rowJson, covers);
            by = "row";
        }
        dsl.update(CONFLICT).set(CONFLICT.STATUS, ConflictState.RESOLVED.label()).set(CONFLICT.RESOLUTION, json(choice))
                .set(CONFLICT.RESOLVED_BY, by).set(CONFLICT.RESOLVED_AT, DSL.currentOffsetDateTime())
                .set(CONFLICT.WINNER_NODE, takeNode != null ? by.substring("take ".length()) : "(operator row)")
                .where(CONFLICT.ID.eq(id)).execute();
        return entry(id).orElseThrow();
    }

    private static Choice parseRow(ConflictEntry e, String rowJson, List<Long> covers) {
        List<String> columns = e.sides().stream().filter(s -> s.row() != null).findFirst().map(s -> List.copyOf(s.row().keySet()))
                .orElseThrow(() -> new UsageException("conflict " + e.id() + ": every side deleted the row; use --take NODE"));
        JsonNode row;
        try {
            row = JSON.readTree(rowJson);
        } catch (JsonProcessingException ex) {
            throw new UsageException("--row is not valid JSON: " + ex.getOriginalMessage(), ex);
        }
        if (row == null || !row.isObject()) {
            throw new UsageException("--row must be a JSON object of column to value, e.g. {\"id\": 1, \"name\": \"x\"}");
        }
        List<String> unknown = new ArrayList<>();
        for (Iterator<String> it = row.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!columns.contains(f)) {
                unknown.add(f);
            }
        }
        List<String> missing = columns.stream().filter(c -> !row.has(c)).toList();
        if (!unknown.isEmpty() || !missing.isEmpty()) {
            throw new UsageException("--row must name exactly the columns " + columns + (unknown.isEmpty() ? "" : "; unknown: " + unknown)
                    + (missing.isEmpty() ? "" : "; missing: " + missing));
        }
        List<String> values = new ArrayList<>();
        for (String c : columns) {
            JsonNode v = row.get(c);
            values.add(v.isNull() ? null : v.isValueNode() ? v.asText() : v.toString());
        }
        return new Choice(columns, values, false, covers);
    }

    private static ConflictEntry.SideEntry side(Side s) {
        String at = s.stampMicros() == 0 ? null
                : Instant.ofEpochSecond(Math.floorDiv(s.stampMicros(), 1_000_000), Math.floorMod(s.stampMicros(), 1_000_000) * 1000L).toString();
        return new ConflictEntry.SideEntry(s.node().name(), s.author().name(),
                Arrays.stream(s.version().toArray()).boxed().toList(), at, s.image() == null ? null : s.image().asMap());
    }

    public Optional<ConflictEntry> entry(long id) {
        return dsl.selectFrom(CONFLICT).where(CONFLICT.ID.eq(id)).fetchOptional().map(ConflictJournal::entry);
    }

    /** Entries newest first; null filters match everything; {@code openOnly}: open or resolved but not yet applied. */
    public List<ConflictEntry> list(String sync, TableRef table, Instant since, boolean openOnly, int limit) {
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
        if (openOnly) {
            where.add(AWAITING_OPERATOR);
        }
        return dsl.selectFrom(CONFLICT).where(DSL.and(where)).orderBy(CONFLICT.ID.desc()).limit(limit).fetch(ConflictJournal::entry);
    }

    /** The entries of one key ({@code key}: its columns' text, as rounds compare keys), newest first. */
    public List<ConflictEntry> forKey(String sync, TableRef table, List<String> key, int limit) {
        return dsl.selectFrom(CONFLICT).where(CONFLICT.SYNC_NAME.eq(sync), CONFLICT.TABLE_SCHEMA.eq(table.schema()),
                CONFLICT.TABLE_NAME.eq(table.name()), CONFLICT.ROW_KEY.eq(json(key)))
                .orderBy(CONFLICT.ID.desc()).limit(limit).fetch(ConflictJournal::entry);
    }

    public List<ConflictEntry> list(String sync, TableRef table, Instant since, int limit) {
        return list(sync, table, since, false, limit);
    }

    private static ConflictEntry entry(ConflictRecord r) {
        return new ConflictEntry(r.getId(), r.getSyncName(), r.getTableSchema(), r.getTableName(), read(r.getRowKey(), KEY),
                r.getStrategy(), r.getWinnerNode(), read(r.getSides(), SIDES), r.getDecidedAt(), ConflictState.of(r.getStatus()), r.getResolvedBy(),
                r.getResolvedAt());
    }

    public long count(String sync) {
        return dsl.fetchCount(CONFLICT, sync == null ? DSL.noCondition() : CONFLICT.SYNC_NAME.eq(sync));
    }

    /**
     * Conflicts held for an operator (open, or resolved and not yet applied); an operator's repair
     * waiting for its round is not one: it needs nobody.
     */
    public long countOpen(String sync) {
        return dsl.fetchCount(CONFLICT, CONFLICT.SYNC_NAME.eq(sync).and(AWAITING_OPERATOR).and(CONFLICT.STRATEGY.ne(REPAIR)));
    }

    /** Deletes decided and applied entries older than {@code retention}; open ones stay. Returns how many. */
    public int purge(String sync, Duration retention, Instant now) {
        return dsl.deleteFrom(CONFLICT).where(CONFLICT.SYNC_NAME.eq(sync), CONFLICT.STATUS.in(ConflictState.DECIDED.label(), ConflictState.APPLIED.label()),
                CONFLICT.DECIDED_AT.lt(OffsetDateTime.ofInstant(now.minus(retention), ZoneOffset.UTC))).execute();
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
