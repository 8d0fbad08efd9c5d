package dev.ibex.engine.db;

import java.util.List;
import java.util.stream.Collectors;
import org.jooq.DSLContext;
import org.jooq.SQLDialect;
import org.jooq.conf.RenderQuotedNames;
import org.jooq.conf.Settings;
import org.jooq.impl.DSL;

/**
 * Renders user identifiers through jOOQ, always quoted, so that mixed case, spaces, reserved
 * words and embedded quotes are just names. The only way Ibex puts a user name into SQL text.
 */
public final class Idents {
    private static final DSLContext PG = DSL.using(SQLDialect.POSTGRES,
            new Settings().withRenderQuotedNames(RenderQuotedNames.ALWAYS));

    private Idents() {
    }

    public static String name(String... parts) {
        return PG.render(DSL.name(parts));
    }

    /** {@code "a", "b"}, or with a qualifier: {@code t."a", t."b"}. */
    public static String list(String qualifier, List<String> columns) {
        return columns.stream().map(c -> qualifier == null ? name(c) : qualifier + "." + name(c))
                .collect(Collectors.joining(", "));
    }

    /** {@code l."a" = r."a" and l."b" = r."b"}. */
    public static String equal(String left, String right, List<String> columns) {
        return columns.stream().map(c -> left + "." + name(c) + " = " + right + "." + name(c))
                .collect(Collectors.joining(" and "));
    }
}
