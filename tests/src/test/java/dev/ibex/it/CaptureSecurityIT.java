package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ibex.engine.config.TableRef;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The capture trigger functions run as security definer (so that applications need no privilege on
 * schema {@code ibex}) without a {@code SET search_path}, which would cost writers about 4% of their
 * throughput; so nothing in them may be looked up through the caller's search_path. Here an
 * application role plants functions, an aggregate and operators with the names capture uses in a
 * schema it puts before {@code pg_catalog}, each recording who called it, then writes through every
 * capture path (single rows, a statement large enough for a marker, a delete, a key change, a
 * truncate, and a partitioned table's row triggers: through the root, into a partition, a row moved
 * across partitions). None of them may run; the same names called plainly by the application do.
 */
class CaptureSecurityIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b");
    private static final String APP = "capture_app";

    private static final String TRAP = """
            create function evil.%1$s returns %2$s language plpgsql as $$
            begin insert into evil.calls values (current_user, '%1$s'); return %3$s; end $$""";

    @Test
    void noCallerSearchPathReachesIntoCapture() {
        for (String n : CLUSTER.nodes()) {
            CLUSTER.server(n).execute("postgres",
                    "do $$ begin create role " + APP + " login nosuperuser; exception when duplicate_object then null; end $$");
            CLUSTER.exec(n, "create table sec (id bigint primary key, v text not null)",
                    "insert into sec select g, 'init' from generate_series(1, 3000) g",
                    "grant select, insert, update, delete, truncate on sec to " + APP,
                    "grant create on database \"" + CLUSTER.database(n) + "\" to " + APP,
                    "create table secp (id bigint primary key, v text not null) partition by range (id)",
                    "create table secp_1 partition of secp for values from (0) to (1000)",
                    "create table secp_2 partition of secp for values from (1000) to (1000000)",
                    "insert into secp select g, 'init' from generate_series(1, 10) g",
                    "grant select, insert, update, delete, truncate on secp, secp_1, secp_2 to " + APP);
        }
        TableRef t = TableRef.parse("sec");
        CLUSTER.addSync("sec", t, TableRef.parse("secp"));
        CLUSTER.exec("a", "set role " + APP, "create schema evil", "create table evil.calls (who text, what text)",
                "grant insert on evil.calls to public",
                TRAP.formatted("clock_timestamp()", "timestamptz", "pg_catalog.clock_timestamp()"),
                TRAP.formatted("current_setting(text, boolean)", "text", "pg_catalog.current_setting($1, $2)"),
                TRAP.formatted("nextval(regclass)", "bigint", "pg_catalog.nextval($1)"),
                TRAP.formatted("pg_relation_size(regclass)", "bigint", "pg_catalog.pg_relation_size($1)"),
                TRAP.formatted("count_step(bigint)", "bigint", "$1 + 1"),
                "create aggregate evil.count(*) (sfunc = evil.count_step, stype = bigint, initcond = '0')",
                TRAP.formatted("plus(timestamptz, interval)", "timestamptz", "$1 operator(pg_catalog.+) $2"),
                "create operator evil.+ (function = evil.plus, leftarg = timestamptz, rightarg = interval)",
                TRAP.formatted("ne(text, text)", "boolean", "$1 operator(pg_catalog.<>) $2"),
                "create operator evil.<> (function = evil.ne, leftarg = text, rightarg = text)",
                TRAP.formatted("eq(bigint, integer)", "boolean", "$1 operator(pg_catalog.=) $2"),
                "create operator evil.= (function = evil.eq, leftarg = bigint, rightarg = integer)",
                TRAP.formatted("times(bigint, integer)", "bigint", "$1 operator(pg_catalog.*) $2"),
                "create operator evil.* (function = evil.times, leftarg = bigint, rightarg = integer)",
                TRAP.formatted("ge(bigint, bigint)", "boolean", "$1 operator(pg_catalog.>=) $2"),
                "create operator evil.>= (function = evil.ge, leftarg = bigint, rightarg = bigint)",
                "set search_path = evil, pg_catalog, public",
                "set ibex.clock_offset = '1 second'");

        // the traps work: the application's own unqualified calls land in them
        CLUSTER.exec("a", "select clock_timestamp(), now() + interval '1 s'");
        assertEquals(List.of(List.of("capture_app", "clock_timestamp()"), List.of("capture_app", "plus(timestamptz, interval)")),
                CLUSTER.rows("a", "select who, what from evil.calls order by what"));
        CLUSTER.exec("a", "delete from evil.calls");

        // (the application's own statements use bigint literals, so that they trip no trap themselves)
        CLUSTER.exec("a", "update sec set v = 'one' where id = 1::bigint",
                "update sec set v = 'all'",
                "delete from sec where id = 2::bigint",
                "update sec set id = 100000::bigint where id = 3::bigint",
                "insert into sec values (5000::bigint, 'new')",
                // a partitioned table's row triggers: through the root, into a partition, a row moved across partitions
                "update secp set v = 'one' where id = 1::bigint",
                "update secp_1 set v = 'direct' where id = 2::bigint",
                "update secp set id = 5000::bigint where id = 3::bigint",
                "delete from secp_1 where id = 4::bigint",
                "insert into secp_2 values (7000::bigint, 'new')");
        assertEquals(List.of(), CLUSTER.rows("a", "select who, what from evil.calls"), "capture called nothing of the caller's");
        CLUSTER.converge("sec");
        assertEquals(List.of(List.of("1", "one"), List.of("2", "direct"), List.of("5", "init"), List.of("5000", "init"), List.of("7000", "new")),
                CLUSTER.rows("b", "select id::text, v from secp where id in (1, 2, 3, 4, 5, 5000, 7000) order by id"));
        CLUSTER.exec("a", "truncate sec", "insert into sec values (1::bigint, 'after truncate')", "truncate secp");
        assertEquals(List.of(), CLUSTER.rows("a", "select who, what from evil.calls"), "capture called nothing of the caller's");
        CLUSTER.exec("a", "reset search_path", "reset ibex.clock_offset", "reset role");
        CLUSTER.converge("sec");
        assertEquals(List.of(List.of("1", "after truncate")), CLUSTER.rows("b", "select id::text, v from sec"));
        assertEquals(0, CLUSTER.count("b", "select count(*) from secp"));
    }
}
