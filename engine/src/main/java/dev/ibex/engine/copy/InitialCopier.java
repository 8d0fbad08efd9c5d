package dev.ibex.engine.copy;

import dev.ibex.engine.IbexException;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.db.Idents;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.function.LongConsumer;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;
import org.postgresql.copy.CopyOut;

/**
 * Copies a table's rows from one node to another with COPY, streaming (constant memory): the
 * target's rows are replaced in one transaction under {@code session_replication_role = replica},
 * so neither capture nor user triggers fire. Changes made on the source meanwhile are in its
 * ledger (capture is installed first) and reach the target in the next rounds.
 */
public final class InitialCopier {
    private InitialCopier() {
    }

    /** @param progress called with the number of rows copied so far, every few thousand rows */
    public static long copy(Connection from, String fromNode, Connection to, String toNode, TableShape shape, LongConsumer progress) {
        String table = Idents.name(shape.table().schema(), shape.table().name());
        String cols = Idents.list(null, shape.columnNames());
        try {
            to.setAutoCommit(false);
            try (Statement s = to.createStatement()) {
                s.execute("set local session_replication_role = replica");
                s.execute("delete from " + table);
                long rows = stream(from, "copy (select " + cols + " from " + table + ") to stdout", to,
                        "copy " + table + " (" + cols + ") from stdin", progress);
                to.commit();
                progress.accept(rows);
                return rows;
            } catch (SQLException | RuntimeException e) {
                to.rollback();
                throw e;
            } finally {
                to.setAutoCommit(true);
            }
        } catch (SQLException e) {
            throw new IbexException("copying table " + shape.table() + " from node " + fromNode + " to node " + toNode
                    + " failed: " + e.getMessage(), e);
        }
    }

    /**
     * Streams the rows of one COPY TO on {@code from} into one COPY FROM on {@code to}, in the
     * connections' current transactions; returns how many rows, telling {@code progress} every 5000.
     */
    public static long stream(Connection from, String copyOut, Connection to, String copyIn, LongConsumer progress) throws SQLException {
        CopyOut out = from.unwrap(PGConnection.class).getCopyAPI().copyOut(copyOut);
        CopyIn in = to.unwrap(PGConnection.class).getCopyAPI().copyIn(copyIn);
        long rows = 0;
        byte[] buf;
        while ((buf = out.readFromCopy()) != null) {
            in.writeToCopy(buf, 0, buf.length);
            if (++rows % 5000 == 0) {
                progress.accept(rows);
            }
        }
        in.endCopy();
        return rows;
    }
}
