package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.round.RoundReport;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Replication does not depend on the shape of keys or the spelling of names: composite, uuid,
 * text, numeric and timestamptz keys, key-only tables, mixed-case and reserved identifiers, and a
 * table name written like SQL injection all replicate like {@code accounts}.
 */
class KeysAndNamesIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b");

    @Test
    void compositeKeyOfBigintAndText() {
        CLUSTER.execAll("create table comp (region bigint, code text, qty integer not null, primary key (region, code))");
        CLUSTER.addSync("comp", TableRef.parse("comp"));

        CLUSTER.exec("a", "insert into comp values (1, 'x', 1), (1, 'y', 2), (2, 'x', 3)");
        CLUSTER.exec("b", "insert into comp values (1, 'X', 4), (10, 'x', 5), (2, 'y', 6)");
        CLUSTER.converge("comp");
        assertRows("select region, code, qty from comp order by region, code collate \"C\"",
                List.of(List.of("1", "X", "4"), List.of("1", "x", "1"), List.of("1", "y", "2"), List.of("2", "x", "3"),
                        List.of("2", "y", "6"), List.of("10", "x", "5")));

        CLUSTER.exec("a", "update comp set qty = 40 where region = 1 and code = 'X'", "delete from comp where region = 2 and code = 'y'");
        CLUSTER.exec("b", "update comp set code = 'z' where region = 1 and code = 'y'", "delete from comp where region = 10");
        CLUSTER.converge("comp");
        assertRows("select region, code, qty from comp order by region, code collate \"C\"",
                List.of(List.of("1", "X", "40"), List.of("1", "x", "1"), List.of("1", "z", "2"), List.of("2", "x", "3")));
    }

    @Test
    void uuidKey() {
        CLUSTER.execAll("create table uu (id uuid primary key, v text not null)");
        CLUSTER.addSync("uu", TableRef.parse("public.uu"));

        CLUSTER.exec("a", "insert into uu values ('00000000-0000-0000-0000-000000000001', 'a min'), "
                + "('ffffffff-ffff-ffff-ffff-ffffffffffff', 'a max')");
        CLUSTER.exec("b", "insert into uu values ('7fffffff-0000-4000-8000-00000000abcd', 'b mid')",
                "insert into uu select gen_random_uuid(), 'random ' || g from generate_series(1, 200) g");
        CLUSTER.converge("uu");
        assertEquals(203, CLUSTER.count("a", "select count(*) from uu"));

        CLUSTER.exec("a", "update uu set v = 'a changed mid' where id = '7fffffff-0000-4000-8000-00000000abcd'",
                "delete from uu where v like 'random %' and v <> 'random 7'");
        CLUSTER.exec("b", "delete from uu where id = '00000000-0000-0000-0000-000000000001'");
        CLUSTER.converge("uu");
        assertRows("select id, v from uu order by v collate \"C\"", List.of(List.of("7fffffff-0000-4000-8000-00000000abcd", "a changed mid"),
                List.of("ffffffff-ffff-ffff-ffff-ffffffffffff", "a max"), List.of(idOf("random 7"), "random 7")));
    }

    @Test
    void textKeysWithEscapesWhitespaceAndUnicode() {
        CLUSTER.execAll("create table tk (k text primary key, v text)");
        CLUSTER.addSync("tk", TableRef.parse("tk"));
        List<String> keys = List.of("", " ", "a", "A", "a b", "tab\there", "new\nline", "cr\rreturn", "back\\slash", "\\N",
                "quote'", "double\"quote", "{brace},comma;semi", "ünïcödé", "日本語", "😀", "\uFFFD", "zz");
        Map<String, String> expected = new TreeMap<>();
        for (int i = 0; i < keys.size(); i++) {
            String node = i % 2 == 0 ? "a" : "b";
            CLUSTER.execWith(node, "insert into tk values (?, ?)", keys.get(i), node + i);
            expected.put(keys.get(i), node + i);
        }
        for (String k : List.of("😀", "\uFFFD", "\\N", "")) {
            CLUSTER.execWith("b", "insert into tk values (?, ?) on conflict (k) do update set v = excluded.v", k, "b wrote " + k);
            expected.put(k, "b wrote " + k);
        }
        CLUSTER.converge("tk");
        assertTextRows(expected);

        CLUSTER.execWith("a", "update tk set v = 'a updated' where k = ?", "new\nline");
        CLUSTER.execWith("a", "delete from tk where k = ?", "tab\there");
        CLUSTER.execWith("b", "update tk set k = ? where k = ?", "back\\slash moved", "back\\slash");
        CLUSTER.execWith("b", "update tk set v = null where k = ?", " ");
        expected.put("new\nline", "a updated");
        expected.remove("tab\there");
        expected.put("back\\slash moved", expected.remove("back\\slash"));
        expected.put(" ", null);
        CLUSTER.converge("tk");
        assertTextRows(expected);
    }

    @Test
    void numericKey() {
        CLUSTER.execAll("create table nk (n numeric primary key, v text not null)");
        CLUSTER.addSync("nk", TableRef.parse("nk"));

        CLUSTER.exec("a", "insert into nk values (0, 'zero'), (1.5, 'one and a half'), (-2.25, 'negative'), "
                + "(123456789012345678901234567890.123456789, 'huge')");
        CLUSTER.exec("b", "insert into nk values (0.000001, 'tiny'), (1e-20, 'tinier'), ('NaN', 'not a number'), (7, 'seven')");
        CLUSTER.converge("nk");
        CLUSTER.exec("a", "update nk set v = 'a changed tiny' where n = 0.000001", "delete from nk where n = 'NaN'");
        CLUSTER.exec("b", "update nk set n = n * 2 where n = 1.5", "delete from nk where n = -2.25");
        CLUSTER.converge("nk");
        assertRows("select n, v from nk order by n", List.of(List.of("0", "zero"), List.of("0.00000000000000000001", "tinier"),
                List.of("0.000001", "a changed tiny"), List.of("3.0", "one and a half"), List.of("7", "seven"),
                List.of("123456789012345678901234567890.123456789", "huge")));
    }

    /**
     * 2.5 and 2.50 are the same numeric key in two text forms: a round must decide that row once,
     * whatever form each node wrote it in, and leave the same row on both nodes.
     */
    @Test
    void equalNumericKeysWrittenWithDifferentScalesOnTwoNodes() {
        CLUSTER.execAll("create table nscale (n numeric primary key, v text not null)");
        TableRef table = TableRef.parse("nscale");
        CLUSTER.addSync("nscale", table);

        CLUSTER.exec("a", "insert into nscale values (2.50, 'a')");
        CLUSTER.exec("b", "insert into nscale values (2.5, 'b')");
        List<RoundReport> rounds = CLUSTER.settle("nscale");
        assertAll(
                () -> assertEquals(List.of(), rounds.stream().flatMap(r -> r.errors().stream()).toList(), "round errors"),
                () -> assertEquals(1, CLUSTER.conflicts("nscale", table).size(), "conflicts journaled for the one row"),
                () -> assertEquals(CLUSTER.rows("b", "select n, v from nscale"), CLUSTER.rows("a", "select n, v from nscale"),
                        "rows of node a equal to those of node b"));
        assertRows("select v from nscale", List.of(List.of("b")));
    }

    @Test
    void timestamptzKey() {
        CLUSTER.execAll("create table tz (at timestamptz primary key, v text not null)");
        CLUSTER.addSync("tz", TableRef.parse("tz"));

        CLUSTER.exec("a", "insert into tz values ('2024-01-01 00:00:00+00', 'new year'), "
                + "('2024-01-01 00:00:00.000001+00', 'a microsecond later'), ('infinity', 'forever')");
        CLUSTER.exec("b", "insert into tz values ('1999-12-31 23:59:59.999999-05', 'almost y2k in new york'), "
                + "('-infinity', 'always'), ('0044-03-15 12:00:00+00 BC', 'ides of march')");
        CLUSTER.converge("tz");
        CLUSTER.exec("a", "update tz set v = 'a was here' where at = '-infinity'");
        CLUSTER.exec("b", "update tz set at = at + interval '1 hour' where at = '2024-01-01 00:00:00+00'",
                "delete from tz where at = 'infinity'");
        CLUSTER.converge("tz");
        assertRows("select at, v from tz order by at", List.of(List.of("-infinity", "a was here"),
                List.of("0044-03-15 12:00:00+00 BC", "ides of march"), List.of("2000-01-01 04:59:59.999999+00", "almost y2k in new york"),
                List.of("2024-01-01 00:00:00.000001+00", "a microsecond later"), List.of("2024-01-01 01:00:00+00", "new year")));
    }

    @Test
    void tableWithOnlyKeyColumns() {
        CLUSTER.execAll("create table tag (name text, owner bigint, primary key (name, owner))");
        CLUSTER.addSync("tag", TableRef.parse("tag"));

        CLUSTER.exec("a", "insert into tag values ('red', 1), ('blue', 1)");
        CLUSTER.exec("b", "insert into tag values ('red', 2)");
        CLUSTER.converge("tag");
        CLUSTER.exec("b", "delete from tag where name = 'blue'");
        CLUSTER.exec("a", "update tag set owner = 3 where owner = 2");
        CLUSTER.converge("tag");
        assertRows("select name, owner from tag order by name, owner", List.of(List.of("red", "1"), List.of("red", "3")));
    }

    @Test
    void mixedCaseReservedAndSpacedIdentifiers() {
        CLUSTER.execAll("create schema \"My Schema\"", "create table \"My Schema\".\"Order Lines\" (\"select\" bigint primary key, "
                + "\"Mixed Case\" text, \"with space\" numeric(10, 2) not null)");
        CLUSTER.addSync("order-lines", TableRef.parse("\"My Schema\".\"Order Lines\""));

        CLUSTER.exec("a", "insert into \"My Schema\".\"Order Lines\" values (1, 'One', 1.5), (2, 'Two', 2)");
        CLUSTER.exec("b", "insert into \"My Schema\".\"Order Lines\" values (3, 'Three', 3.25)");
        CLUSTER.converge("order-lines");
        CLUSTER.exec("b", "update \"My Schema\".\"Order Lines\" set \"Mixed Case\" = 'ONE', \"with space\" = 10 where \"select\" = 1");
        CLUSTER.exec("a", "delete from \"My Schema\".\"Order Lines\" where \"select\" = 3",
                "update \"My Schema\".\"Order Lines\" set \"select\" = 20 where \"select\" = 2");
        CLUSTER.converge("order-lines");
        assertRows("select \"select\", \"Mixed Case\", \"with space\" from \"My Schema\".\"Order Lines\" order by 1",
                List.of(List.of("1", "ONE", "10.00"), List.of("20", "Two", "2.00")));
    }

    @Test
    void tableNamedLikeSqlInjectionIsAnOrdinaryName() {
        String name = "x\"; DROP TABLE t; --";
        String quoted = "\"x\"\"; DROP TABLE t; --\"";
        CLUSTER.execAll("create table t (id integer primary key)", "insert into t values (42)",
                "create table " + quoted + " (id integer primary key, v text not null)");
        TableRef table = new TableRef("public", name);
        assertEquals(table, TableRef.parse("public." + quoted));
        CLUSTER.addSync("injection", table);

        CLUSTER.exec("a", "insert into " + quoted + " values (1, 'a')");
        CLUSTER.exec("b", "insert into " + quoted + " values (2, 'b')");
        CLUSTER.converge("injection");
        CLUSTER.exec("b", "update " + quoted + " set v = 'b changed' where id = 1");
        CLUSTER.converge("injection");
        assertRows("select id, v from " + quoted + " order by id", List.of(List.of("1", "b changed"), List.of("2", "b")));
        assertRows("select id from t", List.of(List.of("42")));
    }

    /** Key columns may have any name, including the names of the ledger's own bookkeeping columns. */
    @Test
    void keyColumnsNamedLikeLedgerColumns() {
        CLUSTER.execAll("create table reading (origin text, ts timestamptz, txid bigint, deleted boolean, vv integer, "
                + "value double precision not null, primary key (origin, ts, txid, deleted, vv))");
        CLUSTER.addSync("reading", TableRef.parse("reading"));

        CLUSTER.exec("a", "insert into reading values ('sensor-1', '2024-05-01 10:00:00+00', 1, false, 1, 20.5)");
        CLUSTER.exec("b", "insert into reading values ('sensor-2', '2024-05-01 10:00:00+00', 2, true, 2, 21.5)");
        CLUSTER.converge("reading");
        assertRows("select origin, ts, txid, deleted, vv, value from reading order by origin",
                List.of(List.of("sensor-1", "2024-05-01 10:00:00+00", "1", "f", "1", "20.5"),
                        List.of("sensor-2", "2024-05-01 10:00:00+00", "2", "t", "2", "21.5")));
    }

    private static void assertRows(String query, List<List<String>> expected) {
        for (String node : CLUSTER.nodes()) {
            assertEquals(expected, CLUSTER.rows(node, query), "on node " + node + ": " + query);
        }
    }

    private static void assertTextRows(Map<String, String> expected) {
        for (String node : CLUSTER.nodes()) {
            Map<String, String> actual = new LinkedHashMap<>();
            for (List<String> r : CLUSTER.rows(node, "select k, v from tk")) {
                actual.put(r.get(0), r.get(1));
            }
            assertEquals(new TreeMap<>(expected), new TreeMap<>(actual), "rows of tk on node " + node);
        }
    }

    private static String idOf(String v) {
        List<List<String>> r = CLUSTER.rows("a", "select id from uu where v = ?", v);
        assertEquals(1, r.size(), "one row " + v + " on node a");
        return r.get(0).get(0);
    }
}
