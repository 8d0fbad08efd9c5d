package dev.ibex.engine.db;

import dev.ibex.engine.IbexException;
import dev.ibex.engine.UsageException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

/**
 * Opens JDBC connections to PostgreSQL with Ibex's session settings: bounded connect and socket
 * timeouts (so that no call hangs forever on a dead or black-holed peer), keepalives, UTC and ISO
 * output so that text images compare equal across nodes. The password comes from the URL, from
 * {@code ~/.pgpass} (PgJDBC reads it) or from a named environment variable; it is never logged.
 */
public final class NodeConnector {
    private final int connectTimeoutSeconds;
    private final int socketTimeoutSeconds;

    public NodeConnector(int connectTimeoutSeconds, int socketTimeoutSeconds) {
        this.connectTimeoutSeconds = connectTimeoutSeconds;
        this.socketTimeoutSeconds = socketTimeoutSeconds;
    }

    public static NodeConnector defaults() {
        return new NodeConnector(5, 60);
    }

    /** Opens a connection; failures carry the node name and a redacted URL, never the password. */
    public Connection open(String what, String url, String passwordEnv) {
        Properties p = properties(what, passwordEnv);
        try {
            Connection c = DriverManager.getConnection(url, p);
            try (Statement s = c.createStatement()) {
                s.execute(Pools.SESSION_SQL);
            }
            return c;
        } catch (SQLException e) {
            throw connectFailure(what, url, e);
        }
    }

    private Properties properties(String what, String passwordEnv) {
        Properties p = new Properties();
        p.setProperty("connectTimeout", Integer.toString(connectTimeoutSeconds));
        p.setProperty("socketTimeout", Integer.toString(socketTimeoutSeconds));
        p.setProperty("tcpKeepAlive", "true");
        p.setProperty("ApplicationName", "ibex");
        if (passwordEnv != null && !passwordEnv.isBlank()) {
            String pw = System.getenv(passwordEnv);
            if (pw == null) {
                throw new UsageException(what + ": environment variable " + passwordEnv
                        + " (its --password-env) is not set; export it or choose another variable");
            }
            p.setProperty("password", pw);
        }
        return p;
    }

    /**
     * The one-line failure for a connection that could not be made, naming what was connected to
     * and its URL without credentials, with a hint chosen by SQLSTATE: a refused password, a login
     * that pg_hba.conf refuses (a {@code hostssl} rule and a URL without TLS, for instance), a missing
     * database; anything else is an unreachable node (retried later by the engine).
     */
    static IbexException connectFailure(String what, String url, Throwable e) {
        String msg = what + " (" + Redactor.url(url) + "): " + Redactor.text(Redactor.firstLine(SqlErrors.message(e)));
        String state = SqlErrors.state(e);
        if ("28000".equals(state)) {
            return new UsageException(msg + "; the server refuses this user, database or connection type: check the "
                    + "user and the URL's sslmode against the server's pg_hba.conf (hostssl rules need sslmode=require or stronger)", e);
        }
        if (SqlErrors.classify(e) == SqlErrors.Kind.AUTHENTICATION) {
            return new UsageException(msg + "; check the user and password (URL, ~/.pgpass or --password-env)", e);
        }
        if ("3D000".equals(state)) {
            return new UsageException(msg + "; check the database name in the URL", e);
        }
        return new NodeUnreachableException(msg, e);
    }
}
