package dev.ibex.it;

import dev.ibex.testkit.Sql;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;

/** An application's write in the randomized tests, on a connection with a statement timeout. */
final class AppWrite {
    private AppWrite() {
    }

    /**
     * Runs one autocommit statement; false if the statement timeout cancelled it (it waited on a
     * row lock held by an engine session that was cut off, frozen or stale), so that it did not
     * commit and is not in the model. Any other failure fails the test, named by {@code what}.
     */
    static boolean run(Connection c, String what, String sql, Object... args) {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                ps.setObject(i + 1, args[i]);
            }
            ps.executeUpdate();
            return true;
        } catch (SQLException e) {
            if (!"57014".equals(e.getSQLState())) {
                throw new Sql.UncheckedSqlException(what + " failed: " + sql, e);
            }
            return false;
        }
    }
}
