package dev.ibex.engine.db;

import java.sql.SQLException;

/**
 * The one place that classifies SQL errors, by SQLSTATE only (never by message text). Connection
 * failures (class 08), serialization failures (40001), deadlocks (40P01), lock timeouts (55P03),
 * query cancellations (57014) and server shutdowns (57P01-57P03) are transient: retry later.
 * Authentication (28) and syntax or access errors (42) are permanent.
 */
public final class SqlErrors {
    public enum Kind { TRANSIENT, AUTHENTICATION, PERMANENT }

    private SqlErrors() {
    }

    public static Kind classify(Throwable t) {
        SQLException e = find(t);
        if (e == null) {
            return t instanceof java.io.IOException ? Kind.TRANSIENT : Kind.PERMANENT;
        }
        String state = e.getSQLState();
        if (state == null) {
            return Kind.TRANSIENT;
        }
        if (state.startsWith("28")) {
            return Kind.AUTHENTICATION;
        }
        if (state.startsWith("08") || state.equals("40001") || state.equals("40P01") || state.equals("55P03")
                || state.equals("57014") || state.startsWith("57P") || state.equals("53300")) {
            return Kind.TRANSIENT;
        }
        return Kind.PERMANENT;
    }

    public static boolean isConnectionFailure(Throwable t) {
        SQLException e = find(t);
        return e != null && e.getSQLState() != null && (e.getSQLState().startsWith("08") || e.getSQLState().startsWith("57P"));
    }

    /** A lock not granted within {@code lock_timeout} (or refused by {@code NOWAIT}): 55P03. */
    public static boolean isLockNotAvailable(Throwable t) {
        return "55P03".equals(state(t));
    }

    /** A function the database does not have (42883): typically a node whose ibex schema predates the caller. */
    public static boolean isUndefinedFunction(Throwable t) {
        return "42883".equals(state(t));
    }

    /**
     * The database refused rows for what they hold: a value it does not accept (class 22) or a
     * constraint (class 23). Retrying the same rows fails the same way.
     */
    public static boolean isRejectedData(Throwable t) {
        String state = state(t);
        return state != null && (state.startsWith("22") || state.startsWith("23"));
    }

    public static String state(Throwable t) {
        SQLException e = find(t);
        return e == null ? null : e.getSQLState();
    }

    /**
     * Why a connection could not be had, in one line: for the pool's "not available, request timed
     * out" the underlying driver error it saw (refused, reset, authentication...) instead of the
     * pool's own statistics. Credentials are removed.
     */
    public static String connectFailure(SQLException e) {
        String text;
        if (e instanceof java.sql.SQLTransientConnectionException && e.getMessage() != null
                && e.getMessage().contains("request timed out")) {
            Throwable cause = e.getCause();
            text = "no connection within the 5 s timeout" + (cause != null && cause.getMessage() != null
                    ? " (" + Redactor.firstLine(cause.getMessage()) + ")" : "");
        } else {
            text = Redactor.firstLine(e.getMessage());
        }
        return Redactor.text(text);
    }

    /** The database's own message of the first SQLException in the chain, else the throwable's. */
    public static String message(Throwable t) {
        SQLException e = find(t);
        return String.valueOf(e != null ? e.getMessage() : t.getMessage());
    }

    private static SQLException find(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof SQLException s) {
                return s;
            }
        }
        return null;
    }
}
