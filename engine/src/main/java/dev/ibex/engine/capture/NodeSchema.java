package dev.ibex.engine.capture;

import javax.sql.DataSource;
import org.flywaydb.core.Flyway;

/**
 * Creates or upgrades the {@code ibex} schema on a node (Flyway, {@code db/node}); idempotent. All
 * pending migrations run in one transaction, so that a node upgrades its tables and its capture
 * triggers together (V4 and the repeatable capture migration) or not at all.
 */
public final class NodeSchema {
    private NodeSchema() {
    }

    public static void migrate(DataSource node) {
        Flyway.configure().dataSource(node).locations("classpath:db/node").schemas("ibex").createSchemas(true)
                .table("ibex_schema_history").group(true).load().migrate();
    }
}
