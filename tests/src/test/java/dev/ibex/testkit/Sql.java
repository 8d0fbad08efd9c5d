package dev.ibex.testkit;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * Tiny JDBC helpers for tests. Statements are prepared with positional {@code ?} arguments, and
 * every {@link SQLException} is rethrown as the unchecked {@link UncheckedSqlException} so the
 * helpers can be called from lambdas such as {@link Await} conditions.
 */
public final class Sql {
    private Sql() {
    }

    /** Opens a connection to a JDBC URL. */
    public static Connection connect(String jdbcUrl) {
        try {
            return DriverManager.getConnection(jdbcUrl);
        } catch (SQLException e) {
            throw new UncheckedSqlException("cannot connect to " + jdbcUrl, e);
        }
    }

    /** Runs a query returning one row and returns its first column as a long (typically a count). */
    public static long count(Connection c, String sql, Object... args) {
        try (PreparedStatement st = prepare(c, sql, args); ResultSet rs = st.executeQuery()) {
            if (!rs.next()) {
                throw new IllegalStateException("no row returned by: " + sql);
            }
            return rs.getLong(1);
        } catch (SQLException e) {
            throw new UncheckedSqlException(sql, e);
        }
    }

    /** Runs a query and returns every row, each column read with {@code getString}. */
    public static List<List<String>> rows(Connection c, String sql, Object... args) {
        try (PreparedStatement st = prepare(c, sql, args); ResultSet rs = st.executeQuery()) {
            int columns = rs.getMetaData().getColumnCount();
            List<List<String>> rows = new ArrayList<>();
            while (rs.next()) {
                List<String> row = new ArrayList<>(columns);
                for (int i = 1; i <= columns; i++) {
                    row.add(rs.getString(i));
                }
                rows.add(row);
            }
            return rows;
        } catch (SQLException e) {
            throw new UncheckedSqlException(sql, e);
        }
    }

    /** Executes one statement (DDL or DML). */
    public static void exec(Connection c, String sql, Object... args) {
        try (PreparedStatement st = prepare(c, sql, args)) {
            st.execute();
        } catch (SQLException e) {
            throw new UncheckedSqlException(sql, e);
        }
    }

    /** Executes one data-changing statement; returns how many rows it changed. */
    public static int update(Connection c, String sql, Object... args) {
        try (PreparedStatement st = prepare(c, sql, args)) {
            return st.executeUpdate();
        } catch (SQLException e) {
            throw new UncheckedSqlException(sql, e);
        }
    }

    /**
     * As {@link #update}, for a statement that gives a row a key another writer (or a round's
     * apply) may have given a row first: the unique violation fails the statement, which then
     * wrote nothing, so it counts 0 rows.
     */
    public static int updateUnlessTaken(Connection c, String sql, Object... args) {
        try {
            return update(c, sql, args);
        } catch (UncheckedSqlException e) {
            if ("23505".equals(e.getCause().getSQLState())) {
                return 0;
            }
            throw e;
        }
    }

    private static PreparedStatement prepare(Connection c, String sql, Object... args) throws SQLException {
        PreparedStatement st = c.prepareStatement(sql);
        try {
            for (int i = 0; i < args.length; i++) {
                st.setObject(i + 1, args[i]);
            }
            return st;
        } catch (SQLException e) {
            st.close();
            throw e;
        }
    }

    /** A {@link SQLException} made unchecked; {@link #getCause()} gives the original. */
    public static final class UncheckedSqlException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public UncheckedSqlException(String message, SQLException cause) {
            super(message + ": " + cause.getMessage(), cause);
        }

        @Override
        public synchronized SQLException getCause() {
            return (SQLException) super.getCause();
        }
    }
}
