package dev.ibex.engine.db;

import dev.ibex.engine.Names;
import dev.ibex.engine.UsageException;

/** A node as configured: its name, JDBC URL and the environment variable holding its password. */
public record NodeSettings(String name, String url, String passwordEnv) {
    public NodeSettings {
        Names.requireName("node", name);
        if (url == null || !url.startsWith("jdbc:postgresql:")) {
            throw new UsageException("node " + name + ": --url must be a PostgreSQL JDBC URL "
                    + "(jdbc:postgresql://HOST:PORT/DATABASE?user=USER), got " + Redactor.url(url));
        }
        if (passwordEnv != null && !passwordEnv.matches("[A-Za-z_][A-Za-z0-9_]*")) {
            throw new UsageException("node " + name + ": --password-env must name an environment variable, got '"
                    + passwordEnv + "'");
        }
    }

    /**
     * Refuses a URL that carries a password or a client-key passphrase ({@code password=},
     * {@code sslpassword=}): Ibex stores node URLs in the control database, in clear, for every
     * reader of its tables. The password belongs in the variable named by {@code --password-env}
     * or in {@code ~/.pgpass}. Checked when a node is added, not when stored nodes are read.
     */
    public void requireNoPasswordInUrl() {
        if (Redactor.carriesPassword(url)) {
            throw new UsageException("node " + name + ": the URL carries a password, which Ibex would store in clear in "
                    + "the control database; remove it from --url and give it with --password-env VAR (or ~/.pgpass)");
        }
    }

    public String redactedUrl() {
        return Redactor.url(url);
    }
}
