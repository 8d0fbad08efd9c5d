package dev.ibex.engine.install;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.db.SqlErrors;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/**
 * Commits a schema change's open transactions, one per node, with two-phase commit: the change's
 * gid is recorded in the control database, every node prepares it, the record says so, and every
 * node commits it. A node that cannot prepare makes every node roll back (nothing changed); once
 * all have prepared, the change commits, and a node that could not commit yet keeps its prepared
 * transaction for 'ibex schema apply SYNC --resolve' to commit, with the tables paused meanwhile.
 */
record TwoPhaseCommit(PreparedChanges prepared, String sync, List<TableRef> paused, Map<NodeId, Connection> conns,
                      Consumer<String> progress, BiConsumer<String, List<TableRef>> resume) {
    void commit(String script) {
        String gid = PreparedChanges.newGid();
        try {
            prepared.record(gid, sync, script, paused);
        } catch (RuntimeException e) {
            SchemaChanger.rollback(conns);
            resume.accept(sync, paused);
            throw e;
        }
        prepareAll(gid);
        prepared.committing(gid);
        List<String> states = new ArrayList<>();
        boolean left = false;
        for (Map.Entry<NodeId, Connection> e : conns.entrySet()) {
            try {
                PreparedChanges.finish(e.getValue(), gid, true);
                states.add("node " + e.getKey() + ": committed");
                progress.accept("node " + e.getKey() + ": committed (two-phase)");
            } catch (SQLException ex) {
                left = true;
                states.add("node " + e.getKey() + ": prepared, not committed yet (" + Redactor.firstLine(SqlErrors.message(ex)) + ")");
            }
        }
        if (left) {
            String report = String.join("; ", states);
            prepared.control().tables().setPaused(sync, paused, true, "schema change " + gid + " prepared on every node, committed on "
                    + "some only: " + report + "; run 'ibex schema apply " + sync + " --resolve'");
            throw new IbexException("the change is prepared on every node but committed on some only (" + report + "); run 'ibex schema "
                    + "apply " + sync + " --resolve' when the nodes answer, it commits the rest");
        }
        prepared.forget(gid);
    }

    /** PREPARE TRANSACTION on every node; when one fails, every node's transaction is rolled back. */
    private void prepareAll(String gid) {
        List<Map.Entry<NodeId, Connection>> done = new ArrayList<>();
        for (Map.Entry<NodeId, Connection> e : conns.entrySet()) {
            try {
                PreparedChanges.prepare(e.getValue(), gid);
                done.add(e);
                progress.accept("node " + e.getKey() + ": prepared");
            } catch (SQLException ex) {
                SchemaChanger.rollback(conns);
                List<String> stuck = new ArrayList<>();
                for (Map.Entry<NodeId, Connection> d : done) {
                    try {
                        PreparedChanges.finish(d.getValue(), gid, false);
                    } catch (SQLException again) {
                        stuck.add(d.getKey().name());
                    }
                }
                if (stuck.isEmpty()) {
                    prepared.forget(gid);
                    resume.accept(sync, paused);
                    throw new IbexException("node " + e.getKey() + " refused to prepare the change: " + Redactor.firstLine(SqlErrors.message(ex))
                            + "; it was rolled back on every node, nothing changed", ex);
                }
                prepared.control().tables().setPaused(sync, paused, true, "schema change " + gid + " refused by node " + e.getKey()
                        + " and still prepared on " + stuck + "; run 'ibex schema apply " + sync + " --resolve'");
                throw new IbexException("node " + e.getKey() + " refused to prepare the change (" + Redactor.firstLine(SqlErrors.message(ex))
                        + "), and it is still prepared on " + stuck + "; run 'ibex schema apply " + sync + " --resolve' when they answer, "
                        + "it rolls them back", ex);
            }
        }
    }
}
