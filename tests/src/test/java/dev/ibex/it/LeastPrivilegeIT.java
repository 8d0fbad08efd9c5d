package dev.ibex.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.install.SequenceInterleaver;
import dev.ibex.engine.db.NodeSettings;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.round.RoundReport;
import dev.ibex.engine.status.NodeProbe;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Ibex runs as the least-privileged role the README documents: no superuser, {@code CREATE} on the
 * database, {@code TRIGGER, SELECT, INSERT, UPDATE, DELETE, TRUNCATE} on the replicated table (owned
 * by the application's role), {@code USAGE} on its schema, and {@code SET} on {@code
 * session_replication_role}. With it a sync installs, replicates inserts, updates, deletes and
 * truncates both ways, and the application's writes need no privilege on schema {@code ibex}.
 *
 * <p>PostgreSQL 14 has no {@code GRANT SET ON PARAMETER}: there only a superuser may set the
 * parameter, and the test checks instead that {@code ibex node check} says the role cannot
 * (docs/postgresql-versions.md).
 */
class LeastPrivilegeIT {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b");

    private static final String ROLE = "ibex_least";
    private static final String APP = "app_owner";
    private static final String PASSWORD = "Least-Priv-7";

    @Test
    void aNonSuperuserRoleWithTheDocumentedGrantsInstallsAndReplicates() {
        int major = Integer.parseInt(CLUSTER.rows("a", "show server_version_num").get(0).get(0)) / 10000;
        for (String n : CLUSTER.nodes()) {
            String db = CLUSTER.database(n);
            CLUSTER.server(n).execute("postgres",
                    "do $$ begin create role " + ROLE + " login nosuperuser password '" + PASSWORD + "'; "
                            + "exception when duplicate_object then null; end $$",
                    "do $$ begin create role " + APP + " login nosuperuser; exception when duplicate_object then null; end $$");
            CLUSTER.server(n).execute(db,
                    "create schema app authorization " + APP,
                    "set role " + APP,
                    "create table app.acct (id integer primary key, v text)",
                    "insert into app.acct values (1, 'init'), (2, 'init')",
                    "grant usage on schema app to " + ROLE,
                    "grant select, insert, update, delete, truncate, trigger on app.acct to " + ROLE,
                    "reset role",
                    "grant create on database \"" + db + "\" to " + ROLE);
            if (major >= 15) {
                CLUSTER.server(n).execute(db, "grant set on parameter session_replication_role to " + ROLE);
            }
            // no password in the URL: Ibex refuses to store one (the test servers trust local connections)
            String url = CLUSTER.server(n).jdbcUrl(db).replace("user=postgres", "user=" + ROLE);
            CLUSTER.control().nodes().add(new NodeSettings("least_" + n, url, null));
        }

        NodeProbe.Report check = NodeProbe.probe(CLUSTER.control().nodes().get("least_a"), Clock.systemUTC());
        assertFalse(check.superuser(), "the role is no superuser: " + check);
        if (major < 15) {
            assertTrue(check.canCreateSchema() && !check.canSetReplicationRole(), "node check on PostgreSQL " + major + ": " + check);
            return;
        }
        assertTrue(check.canCreateSchema() && check.canSetReplicationRole(), "node check sees the grants: " + check);

        TableRef acct = new TableRef("app", "acct");
        CLUSTER.installer().addSync(new SyncSettings("least", List.of(new NodeId("least_a", 1), new NodeId("least_b", 2)),
                List.of(new TableSettings(acct, null, false, null)), "latest", List.of(), Duration.ofSeconds(1), false), null,
                (t, from, to, done, total) -> { });

        // the application writes as itself; its writes are captured through the security-definer trigger
        CLUSTER.exec("a", "set role " + APP, "update app.acct set v = 'a' where id = 1", "insert into app.acct values (3, 'a new')");
        CLUSTER.exec("b", "set role " + APP, "delete from app.acct where id = 2");
        List<RoundReport> rounds = CLUSTER.converge("least");
        assertTrue(rounds.stream().allMatch(r -> r.errors().isEmpty()), rounds.toString());
        assertEquals(List.of(List.of("1", "a"), List.of("3", "a new")), CLUSTER.rows("b", "select id::text, v from app.acct order by id"));

        CLUSTER.exec("b", "truncate app.acct", "insert into app.acct values (9, 'b after truncate')");
        CLUSTER.converge("least");
        assertEquals(List.of(List.of("9", "b after truncate")), CLUSTER.rows("a", "select id::text, v from app.acct order by id"));
        CLUSTER.exec("a", "reset role");
        CLUSTER.exec("b", "reset role");
        interleavingNeedsTheSequencesOwnership();
        aPartitionedTableNeedsTriggerOnEachPartition();
    }

    /**
     * Issue 14, item 5: capture of a partitioned table is a row trigger that PostgreSQL clones onto
     * each partition, so Ibex's role needs TRIGGER on every partition as well (README); with that
     * a write the application makes straight into a partition replicates.
     */
    private void aPartitionedTableNeedsTriggerOnEachPartition() {
        for (String n : CLUSTER.nodes()) {
            CLUSTER.server(n).execute(CLUSTER.database(n), "set role " + APP,
                    "create table app.parts (id integer primary key, v text) partition by range (id)",
                    "create table app.parts_1 partition of app.parts for values from (0) to (100)",
                    "grant select, insert, update, delete, truncate, trigger on app.parts, app.parts_1 to " + ROLE, "reset role");
        }
        CLUSTER.installer().addTables("least", List.of(new TableSettings(new TableRef("app", "parts"), null, false, null)), null,
                (t, from, to, done, total) -> { });
        CLUSTER.exec("a", "set role " + APP, "insert into app.parts_1 values (7, 'into the partition')", "reset role");
        CLUSTER.converge("least");
        assertEquals(List.of(List.of("7", "into the partition")), CLUSTER.rows("b", "select id::text, v from app.parts"));
    }

    /**
     * Issue 14, item 4: a key sequence owned by the application's role cannot be interleaved by
     * Ibex's role: the refusal names every node, sequence and the grant to give, exit 1, and
     * changes nothing; with the grant it interleaves.
     */
    private void interleavingNeedsTheSequencesOwnership() {
        for (String n : CLUSTER.nodes()) {
            CLUSTER.server(n).execute(CLUSTER.database(n), "set role " + APP, "create table app.seqd (id serial primary key, v text)",
                    "grant select, insert, update, delete, truncate, trigger on app.seqd to " + ROLE, "reset role");
        }
        CLUSTER.installer().addTables("least", List.of(new TableSettings(new TableRef("app", "seqd"), null, false, null)), null,
                (t, from, to, done, total) -> { });
        IbexException refused = assertThrows(IbexException.class, () -> CLUSTER.interleaver().interleave("least", null));
        assertFalse(refused instanceof UsageException, "a missing grant is a failed operation (exit 1), not bad usage");
        for (String n : CLUSTER.nodes()) {
            assertTrue(refused.getMessage().contains("node least_" + n + ": sequence app.seqd_id_seq is owned by " + APP + ", not "
                    + ROLE + " (run there: GRANT \"" + APP + "\" TO \"" + ROLE + "\""), refused.getMessage());
            assertEquals(List.of(List.of("1", "f")), CLUSTER.rows(n, "select q.seqincrement::text, s.is_called::text from app.seqd_id_seq s, "
                    + "pg_sequence q where q.seqrelid = 'app.seqd_id_seq'::regclass").stream()
                    .map(r -> List.of(r.get(0), r.get(1).substring(0, 1))).toList(), "nothing changed on " + n);
            CLUSTER.server(n).execute(CLUSTER.database(n), "grant " + APP + " to " + ROLE);
        }
        SequenceInterleaver.Report done = CLUSTER.interleaver().interleave("least", null);
        assertEquals(List.of(true, true), done.changes().stream().map(SequenceInterleaver.Change::changed).toList(), done.toString());
        assertEquals(List.of(List.of("100", "2")), CLUSTER.rows("b", "select q.seqincrement::text, s.last_value::text from "
                + "app.seqd_id_seq s, pg_sequence q where q.seqrelid = 'app.seqd_id_seq'::regclass"));
    }
}
