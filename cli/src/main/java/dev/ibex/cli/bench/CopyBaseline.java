package dev.ibex.cli.bench;

import java.sql.Connection;
import java.sql.Statement;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;
import org.postgresql.copy.CopyOut;

/**
 * B0, plain PostgreSQL: the fastest plain way to move a table's content from node a to node b.
 * A binary {@code COPY ... TO STDOUT} on a is streamed buffer by buffer into a binary
 * {@code COPY ... FROM STDIN} into a temporary table on b, then upserted into the table in the
 * same transaction. Tables {@code b0_accounts} are in no sync, so the engine never sees them.
 */
final class CopyBaseline {
    private CopyBaseline() {
    }

    /** Changes every row on a (untimed), then times moving them all to b; rows/s. */
    static double run(BenchCluster cluster, int run, long rows) throws Exception {
        try (Connection a = cluster.connect("a"); Connection b = cluster.connect("b")) {
            try (Statement s = a.createStatement()) {
                s.executeUpdate("update b0_accounts set balance = balance + 1, note = 'b0-" + run + "', updated_at = now()");
            }
            b.setAutoCommit(false);
            long t0 = System.nanoTime();
            try (Statement s = b.createStatement()) {
                s.execute("create temporary table b0_tmp (like b0_accounts) on commit drop");
            }
            CopyOut out = a.unwrap(PGConnection.class).getCopyAPI()
                    .copyOut("copy (select id, balance, note, updated_at from b0_accounts) to stdout (format binary)");
            CopyIn in = b.unwrap(PGConnection.class).getCopyAPI()
                    .copyIn("copy b0_tmp (id, balance, note, updated_at) from stdin (format binary)");
            byte[] buf;
            while ((buf = out.readFromCopy()) != null) {
                in.writeToCopy(buf, 0, buf.length);
            }
            in.endCopy();
            try (Statement s = b.createStatement()) {
                s.executeUpdate("insert into b0_accounts select id, balance, note, updated_at from b0_tmp"
                        + " on conflict (id) do update set balance = excluded.balance, note = excluded.note,"
                        + " updated_at = excluded.updated_at");
            }
            b.commit();
            double seconds = (System.nanoTime() - t0) / 1e9;
            return rows / seconds;
        }
    }
}
