package dev.ibex.engine.config;

import dev.ibex.engine.UsageException;
import dev.ibex.engine.db.Redactor;

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

    public String redactedUrl() {
        return Redactor.url(url);
    }
}
