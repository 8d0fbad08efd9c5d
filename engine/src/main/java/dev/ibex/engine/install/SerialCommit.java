package dev.ibex.engine.install;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.db.SqlErrors;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.stream.Collectors;

/**
 * Commits a schema change's open transactions node after node, where some node does not allow
 * prepared transactions. A failure before any commit rolls the rest back (nothing changed); one
 * after a commit leaves the tables paused with every node's state, since the nodes now differ.
 */
record SerialCommit(ControlStore control, String sync, List<TableRef> paused, Map<NodeId, Connection> conns, Consumer<String> progress,
                    BiConsumer<String, List<TableRef>> resume) {
    void commit() {
        Map<String, String> states = new LinkedHashMap<>();
        SQLException failure = null;
        String failedNode = null;
        for (Map.Entry<NodeId, Connection> e : conns.entrySet()) {
            String n = e.getKey().name();
            if (failure != null) {
                states.put(n, SchemaChanger.rollbackQuietly(e.getValue()) ? "rolled back" : "rolled back (connection lost)");
                continue;
            }
            try {
                e.getValue().commit();
                e.getValue().setAutoCommit(true);
                states.put(n, "committed");
                progress.accept("node " + n + ": committed");
            } catch (SQLException ex) {
                failure = ex;
                failedNode = n;
                states.put(n, "commit failed (" + Redactor.firstLine(SqlErrors.message(ex)) + "), state unknown");
            }
        }
        if (failure == null) {
            return;
        }
        if (!states.containsValue("committed") && !SqlErrors.isConnectionFailure(failure)) {
            resume.accept(sync, paused);
            throw new IbexException("node " + failedNode + " refused to commit the change: " + Redactor.firstLine(SqlErrors.message(failure))
                    + "; it was rolled back on every node, nothing changed", failure);
        }
        String report = states.entrySet().stream().map(s -> s.getKey() + ": " + s.getValue()).collect(Collectors.joining("; "));
        if (!paused.isEmpty()) {
            control.tables().setPaused(sync, paused, true, "schema change half done, nodes differ: " + report + "; make the nodes "
                    + "equal (run the script by hand where it is missing), then 'ibex table resume " + sync + "'");
        }
        throw new IbexException("the change committed on some nodes only (" + report + "); " + (paused.isEmpty() ? ""
                : paused + " stay paused; ") + "run the script by hand where it is missing, then 'ibex table resume " + sync + "'", failure);
    }
}
