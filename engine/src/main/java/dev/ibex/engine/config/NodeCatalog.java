package dev.ibex.engine.config;

import static dev.ibex.schema.control.jooq.Tables.NODE;
import static dev.ibex.schema.control.jooq.Tables.SYNC_NODE;

import dev.ibex.engine.UsageException;
import dev.ibex.engine.db.NodeSettings;
import java.util.List;
import org.jooq.DSLContext;

/** The nodes registered in the control database: name, JDBC URL, password variable. */
public final class NodeCatalog {
    private final DSLContext dsl;

    NodeCatalog(DSLContext dsl) {
        this.dsl = dsl;
    }

    public void add(NodeSettings n) {
        n.requireNoPasswordInUrl();
        if (dsl.fetchExists(NODE, NODE.NAME.eq(n.name()))) {
            throw new UsageException("node " + n.name() + " exists already; remove it first or pick another name");
        }
        dsl.insertInto(NODE).set(NODE.NAME, n.name()).set(NODE.URL, n.url()).set(NODE.PASSWORD_ENV, n.passwordEnv()).execute();
    }

    public List<NodeSettings> all() {
        return dsl.selectFrom(NODE).orderBy(NODE.NAME).fetch(r -> new NodeSettings(r.getName(), r.getUrl(), r.getPasswordEnv()));
    }

    public NodeSettings get(String name) {
        return dsl.selectFrom(NODE).where(NODE.NAME.eq(name)).fetchOptional()
                .map(r -> new NodeSettings(r.getName(), r.getUrl(), r.getPasswordEnv()))
                .orElseThrow(() -> new UsageException("unknown node '" + name + "': see 'ibex node list'"));
    }

    public void remove(String name) {
        get(name);
        List<String> syncs = dsl.select(SYNC_NODE.SYNC_NAME).from(SYNC_NODE).where(SYNC_NODE.NODE_NAME.eq(name)).fetch(SYNC_NODE.SYNC_NAME);
        if (!syncs.isEmpty()) {
            throw new UsageException("node " + name + " is in sync(s) " + syncs + "; remove those syncs first");
        }
        dsl.deleteFrom(NODE).where(NODE.NAME.eq(name)).execute();
    }
}
