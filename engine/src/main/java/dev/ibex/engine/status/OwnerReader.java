package dev.ibex.engine.status;

import static dev.ibex.schema.control.jooq.Tables.SYNC;

import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.fence.Engines;
import java.time.OffsetDateTime;
import java.util.Optional;
import org.jooq.DSLContext;

/**
 * Reads who owns a sync and which writes its fence refused, from the control database alone: the
 * owner and epoch that {@code ibex.sync} records, and how the owner's engine last described itself
 * in {@code ibex.engine}, so that an owner which stopped or went silent shows as such.
 */
final class OwnerReader {
    /** A sync's owner ({@code null}: none) and the fence rejections counted for it. */
    record Report(SyncStatus.Owner owner, long fenceRejections, String lastFenceRejection, String lastFenceRejectionAt) {
        static final Report NONE = new Report(null, 0, null, null);
    }

    private final DSLContext dsl;
    private final Engines engines;

    OwnerReader(ControlStore control) {
        this.dsl = control.dsl();
        this.engines = new Engines(control.dataSource());
    }

    Report read(String sync) {
        return dsl.select(SYNC.OWNER_ENGINE, SYNC.OWNER_SINCE, SYNC.EPOCH, SYNC.FENCE_REJECTIONS, SYNC.LAST_FENCE_REJECTION,
                        SYNC.LAST_FENCE_REJECTION_AT)
                .from(SYNC).where(SYNC.NAME.eq(sync)).fetchOptional()
                .map(r -> new Report(r.value1() == null ? null : owner(r.value1(), r.value2(), r.value3()), r.value4(), r.value5(),
                        text(r.value6())))
                .orElse(Report.NONE);
    }

    private SyncStatus.Owner owner(String engine, OffsetDateTime since, long epoch) {
        Optional<Engines.EngineRow> row = engines.list().stream().filter(e -> e.name().equals(engine)).findFirst();
        return new SyncStatus.Owner(engine, row.map(Engines.EngineRow::address).orElse(null), text(since), epoch,
                row.map(EngineStatus::state).orElse(null), row.map(EngineStatus::ageSeconds).orElse(null));
    }

    private static String text(OffsetDateTime t) {
        return t == null ? null : t.toString();
    }
}
