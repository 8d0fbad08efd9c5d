package dev.ibex.engine.capture;

import dev.ibex.engine.IbexException;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.window.AppliedStore;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;

/**
 * Installs and removes capture (ledger table and triggers) for a table on one node by calling the
 * plpgsql installer that the node migration defines.
 */
public final class CaptureInstaller {
    private CaptureInstaller() {
    }

    /** @param bases record row bases (for resolvers that merge; see {@code ConflictResolver#needsBase}) */
    public static void install(Connection c, String node, String sync, TableRef t, int ordinal, boolean bases) {
        call(c, node, t, "select ibex.install_capture(?, ?, ?, ?, ?, ?)", sync, t.ledgerName(), ordinal, bases);
    }

    /** Removes the table's capture, and what the node published for a sync once no table of it is left there. */
    public static void remove(Connection c, String node, TableRef t) {
        call(c, node, t, "select ibex.remove_capture(?, ?)");
        try {
            AppliedStore.forgetUncaptured(c);
        } catch (SQLException e) {
            throw new IbexException("node " + node + ", table " + t + ": removing capture failed: " + e.getMessage(), e);
        }
    }

    private static void call(Connection c, String node, TableRef t, String sql, Object... more) {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, t.schema());
            ps.setString(2, t.name());
            for (int i = 0; i < more.length; i++) {
                ps.setObject(i + 3, more[i]);
            }
            ps.execute();
        } catch (SQLException e) {
            throw new IbexException("node " + node + ", table " + t + ": installing capture failed: " + e.getMessage(), e);
        }
    }
}
