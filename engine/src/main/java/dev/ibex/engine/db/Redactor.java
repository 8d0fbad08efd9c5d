package dev.ibex.engine.db;

import java.util.regex.Pattern;

/** Removes credentials from anything Ibex prints: JDBC URLs and free text that may embed one. */
public final class Redactor {
    private static final Pattern PASSWORD_PARAM =
            Pattern.compile("(?i)(password|sslpassword|sslkey|sslcert)=(?!\\*\\*\\*(?:[&\\s;)]|$))([^&\\s]*)");
    private static final Pattern USERINFO = Pattern.compile("(?i)(postgres(?:ql)?://[^:/@\\s]+):[^@\\s]*@");

    private Redactor() {
    }

    /**
     * True when a JDBC URL's own parameters carry a password or a client-key passphrase
     * ({@code password=}, {@code sslpassword=}). Not PgJDBC's parser: it would add one found in
     * ~/.pgpass.
     */
    public static boolean carriesPassword(String jdbcUrl) {
        int query = jdbcUrl == null ? -1 : jdbcUrl.indexOf('?');
        for (String param : query < 0 ? new String[0] : jdbcUrl.substring(query + 1).split("&")) {
            String key = param.split("=", 2)[0].trim();
            if (key.equalsIgnoreCase("password") || key.equalsIgnoreCase("sslpassword")) {
                return true;
            }
        }
        return false;
    }

    public static String url(String jdbcUrl) {
        return text(jdbcUrl);
    }

    /** The first line of a (possibly multi-line) driver message, for one-line errors. */
    public static String firstLine(String s) {
        if (s == null) {
            return "unknown error";
        }
        int i = s.indexOf('\n');
        return i < 0 ? s : s.substring(0, i);
    }

    public static String text(String s) {
        if (s == null) {
            return null;
        }
        String r = PASSWORD_PARAM.matcher(s).replaceAll("$1=***");
        return USERINFO.matcher(r).replaceAll("$1:***@");
    }
}
