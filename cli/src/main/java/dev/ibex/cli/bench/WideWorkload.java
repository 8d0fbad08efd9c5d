package dev.ibex.cli.bench;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * W1 wide rows: {@code wide_accounts}, 20 columns (id, then text, jsonb, numeric, integer,
 * timestamptz and boolean columns) of about 1 kB per row, N rows seeded identically on a and b
 * and replicated by sync {@code bench} next to {@code accounts}. One autocommit UPDATE sets the
 * {@code note} of every row on a to the run's marker; the time runs from the instant its commit
 * returns until b shows all N rows with the marker (polled like W1 bulk). The bytes moved are
 * the rows' size as {@code sum(pg_column_size(t.*))} reports it, measured once after seeding.
 */
final class WideWorkload {
    private WideWorkload() {
    }

    /** Creates {@code wide_accounts} on a node and fills it with {@code rows} rows that depend on the id alone. */
    static void seed(Connection c, long rows) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute("create table wide_accounts (id bigint primary key, note text not null, name text, email text,"
                    + " street text, city text, country text, description text, tags jsonb, profile jsonb,"
                    + " amount numeric(14,2), rate numeric(12,6), quantity integer, score integer, visits integer,"
                    + " created_at timestamptz, updated_at timestamptz, last_seen timestamptz, active boolean, verified boolean)");
            s.execute("insert into wide_accounts select g, 'seed', 'customer ' || md5(g::text),"
                    + " md5(g::text || 'e') || '@example.com', g || ' ' || md5(g::text || 's') || ' street',"
                    + " 'city ' || g % 1000, (array['DE', 'FR', 'IT', 'ES', 'NL'])[1 + g % 5],"
                    + " repeat(md5(g::text || 'd'), 13),"
                    + " jsonb_build_array('tag' || g % 7, 'tag' || g % 11, 'tag' || g % 13, md5(g::text || 't')),"
                    + " jsonb_build_object('id', g, 'tier', g % 4, 'locale', 'en_US', 'referrer', md5(g::text || 'r'),"
                    + " 'preferences', jsonb_build_object('newsletter', g % 2 = 0, 'theme', 'dark', 'currency', 'EUR'),"
                    + " 'history', md5(g::text || 'h') || md5(g::text || 'i')),"
                    + " (g % 100000) * 1.25, round(g / 7.0, 6), g % 1000, g % 100, g % 10000,"
                    + " timestamptz '2020-01-01 00:00:00+00' + g * interval '1 minute',"
                    + " timestamptz '2021-01-01 00:00:00+00' + g * interval '1 second',"
                    + " timestamptz '2022-01-01 00:00:00+00' + g * interval '1 second', g % 2 = 0, g % 3 = 0"
                    + " from generate_series(1, " + rows + ") g");
            s.execute("vacuum analyze wide_accounts");
        }
    }

    /** The size of all rows of {@code wide_accounts} on a, in bytes, as {@code sum(pg_column_size(t.*))}. */
    static long bytes(BenchCluster cluster) throws SQLException {
        try (Connection c = cluster.connect("a"); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("select sum(pg_column_size(t.*)) from wide_accounts t")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** Seconds from the commit of one UPDATE of every row's note on a until b shows them all. */
    static double updateAll(BenchCluster cluster, int run, long rows) throws SQLException {
        String note = "w1w-" + run;
        long committed;
        try (Connection a = cluster.connect("a"); PreparedStatement ps = a.prepareStatement("update wide_accounts set note = ?")) {
            ps.setString(1, note);
            ps.executeUpdate();
            committed = System.nanoTime();
        }
        return (BulkWorkload.awaitNote(cluster, "b", "wide_accounts", note, rows) - committed) / 1e9;
    }
}
