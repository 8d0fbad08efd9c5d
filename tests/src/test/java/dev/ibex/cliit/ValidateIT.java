package dev.ibex.cliit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ibex.testkit.PgServer;
import dev.ibex.testkit.Sql;
import java.sql.Connection;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@code ibex validate}: identical tables exit 0; a row that differs, or is missing, is listed and exits 1. */
class ValidateIT {
    private static PgServer a;
    private static PgServer b;
    private static String control;

    @BeforeAll
    static void servers() {
        a = PgServer.start("validate-a");
        b = PgServer.start("validate-b");
        a.createDatabase("ibex_control");
        control = a.jdbcUrl("ibex_control");
        for (PgServer s : List.of(a, b)) {
            s.execute("postgres", "create table prices (sku text, region integer, price numeric(10,2), primary key (sku, region))",
                    "insert into prices select 'sku' || g, g % 3, g * 1.5 from generate_series(1, 2000) g");
        }
        IbexCli.ok("setup", "--control", control);
        IbexCli.ok("node", "add", "a", "--url", a.jdbcUrl("postgres"), "--control", control);
        IbexCli.ok("node", "add", "b", "--url", b.jdbcUrl("postgres"), "--control", control);
        IbexCli.ok("sync", "add", "v", "--nodes", "a,b", "--tables", "prices", "--control", control);
    }

    @AfterAll
    static void stop() {
        b.close();
        a.close();
    }

    @Test
    void listsExactlyTheKeysThatDiffer() throws Exception {
        IbexCli.Result same = IbexCli.run("validate", "v", "--control", control);
        assertEquals(0, same.code(), same::toString);
        assertTrue(same.out().contains("identical"), same::toString);

        try (Connection cb = b.connect("postgres")) {
            Sql.exec(cb, "set session_replication_role = replica");
            Sql.exec(cb, "update prices set price = 0 where sku = 'sku10'");
            Sql.exec(cb, "delete from prices where sku = 'sku20'");
        }
        IbexCli.Result diff = IbexCli.run("validate", "v", "--json", "--control", control);
        assertEquals(1, diff.code(), diff::toString);
        JsonNode table = new com.fasterxml.jackson.databind.ObjectMapper().readTree(diff.out()).get(0);
        assertEquals(2, table.get("differingKeys").asLong(), diff::toString);
        assertEquals("[sku10, 1]", table.get("differences").get(0).get("key").toString().replace("\"", "").replace(",", ", "));
        assertTrue(table.get("differences").get(1).get("rowHash").get("b").isNull(), "sku20 is missing on b: " + diff);
        assertEquals(2000, table.get("rows").get("a").asLong());
        assertEquals(1999, table.get("rows").get("b").asLong());
    }
}
