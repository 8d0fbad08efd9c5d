package dev.ibex.engine.capture;

import javax.sql.DataSource;
import org.flywaydb.core.Flyway;

/** Creates or upgrades the {@code ibex} schema on a node (Flyway, {@code db/node}); idempotent. */
public final class NodeSchema {
    private NodeSchema() {
    }

    public static void migrate(DataSource node) {
        Flyway.configure().dataSource(node).locations("classpath:db/node").schemas("ibex").createSchemas(true)
                .table("ibex_schema_history").load().migrate();
    }
}
