package dev.ibex.cli.bench;

import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;
import javax.sql.DataSource;

/**
 * A one-line account of the rounds a control database recorded in {@code ibex.round} over a time
 * window, for the bench's progress output: how many, rows applied, rounds not ok, round duration
 * and the wait from a sync's round to its next (median and p99). A round still in flight at the
 * window's end is not recorded yet and not counted.
 */
final class RoundSummaryReader {
    private RoundSummaryReader() {
    }

    /** What the rounds of the syncs that started between {@code from} and {@code to} did, from {@code ibex.round}. */
    static String between(DataSource control, Instant from, Instant to) throws SQLException {
        String sql = "with r as (select finished_at - started_at as took, rows_applied, outcome, started_at - lag(finished_at)"
                + " over (partition by sync_name order by started_at) as waited from ibex.round where started_at between ? and ?)"
                + " select count(*), coalesce(sum(rows_applied), 0), count(*) filter (where outcome <> 'ok'),"
                + " percentile_cont(array[0.5, 0.99]) within group (order by extract(epoch from took) * 1000),"
                + " percentile_cont(array[0.5, 0.99]) within group (order by extract(epoch from waited) * 1000) from r";
        try (Connection c = control.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setTimestamp(1, Timestamp.from(from));
            ps.setTimestamp(2, Timestamp.from(to));
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return String.format(Locale.ROOT, "%d rounds recorded (%d rows applied, %d not ok);"
                                + " round ms median/p99 %s; ms from a sync's round to its next median/p99 %s", rs.getLong(1),
                        rs.getLong(2), rs.getLong(3), millis(rs.getArray(4)), millis(rs.getArray(5)));
            }
        }
    }

    private static String millis(Array a) throws SQLException {
        if (a == null) {
            return "-";
        }
        return Arrays.stream((Object[]) a.getArray())
                .map(v -> v == null ? "-" : String.format(Locale.ROOT, "%.0f", ((Number) v).doubleValue()))
                .collect(Collectors.joining("/"));
    }
}
