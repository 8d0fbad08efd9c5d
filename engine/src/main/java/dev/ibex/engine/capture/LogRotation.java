package dev.ibex.engine.capture;

import dev.ibex.engine.fence.Fence;
import dev.ibex.engine.db.Idents;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.db.SqlErrors;
import dev.ibex.engine.window.Snapshot;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * Keeps change logs small without DELETE and VACUUM, as PgQ and Slony do: the triggers of a table
 * write to one of its two log tables; once the one they write to holds enough (or has held anything
 * for a while), the engine points them at the other one, and truncates the first once no
 * transaction is still writing to it and everything in it is folded. Truncation takes an
 * ACCESS EXCLUSIVE lock that it never waits for ({@code NOWAIT}): a writer still holding the old
 * log keeps it until a later round. Rotating rewrites the trigger functions only, which writers
 * never wait for.
 */
public final class LogRotation {
    /** What to do with one table's log now. */
    public record Plan(boolean truncateOther, boolean rotate) {
        public static final Plan NOTHING = new Plan(false, false);
    }

    /**
     * Rotate when the current log table is larger than this (about 1 400 single-key entries) ...
     * Every fold, and every stream's and version read's check for unfolded entries, scans both log
     * tables whole: at 1 MiB a log held some 20 000 entries under sustained writes, and scanning them
     * was most of a fold's time. A rotation and a truncation cost a few milliseconds each.
     */
    static final long ROTATE_BYTES = 64 << 10;
    /** ... or has held anything for longer than this. */
    static final Duration ROTATE_AGE = Duration.ofSeconds(10);

    private LogRotation() {
    }

    /** Pure: what to do with {@code t}'s log at {@code now}. Rotation needs the other log table empty (or about to be). */
    public static Plan plan(CapturedTable t, Instant now) {
        long current = t.logBytes()[t.slot()];
        boolean otherEmpty = t.logBytes()[1 - t.slot()] == 0;
        boolean full = current > ROTATE_BYTES || (current > 0 && t.slotSince().plus(ROTATE_AGE).isBefore(now));
        return new Plan(!otherEmpty, full);
    }

    /**
     * Carries out the plans for the sync's tables on one node, as the round's fold found them ({@link
     * LogFolder.Fold#tables()}: nothing is read again, and a round with nothing to tidy sends
     * nothing); returns one line per table that failed (a truncation that found its table busy is not
     * a failure: it is tried again next round).
     */
    public static List<String> tidy(Connection c, Fence fence, Instant now, List<CapturedTable> tables) throws SQLException {
        List<String> problems = new ArrayList<>();
        for (CapturedTable t : tables) {
            Plan p = plan(t, now);
            if (p.equals(Plan.NOTHING)) {
                continue;
            }
            try {
                boolean otherEmpty = !p.truncateOther() || truncate(c, t, fence);
                if (p.rotate() && otherEmpty) {
                    rotate(c, t, fence);
                }
            } catch (SQLException e) {
                if (Fence.rejected(e)) {
                    throw e;
                }
                problems.add("table " + t.table() + ": tidying its change log: " + Redactor.firstLine(e.getMessage()));
            }
        }
        return problems;
    }

    /** Truncates the log table the triggers no longer write to, if nobody holds it and it is folded; true when done. */
    private static boolean truncate(Connection c, CapturedTable t, Fence fence) throws SQLException {
        String other = Idents.name("ibex", t.ledger() + "_log" + (1 - t.slot()));
        c.setAutoCommit(false);
        try (Statement s = c.createStatement()) {
            fence.check(c);
            s.execute("lock table " + other + " in access exclusive mode nowait");
            Snapshot folded;
            try (PreparedStatement ps = c.prepareStatement("select fold_snapshot::text from ibex.capture where ledger_name = ?")) {
                ps.setString(1, t.ledger());
                try (ResultSet rs = ps.executeQuery()) {
                    folded = rs.next() ? Snapshot.parse(rs.getString(1)) : Snapshot.NONE;
                }
            }
            boolean unfolded;
            try (PreparedStatement ps = c.prepareStatement("select exists (select 1 from " + other + " s where "
                    + "pg_catalog.age(s.xmin) <= pg_catalog.age(?::xid) or s.xmin = any(?::xid[]))")) {
                ps.setString(1, Long.toString(folded.xmax32()));
                ps.setArray(2, c.createArrayOf("text", folded.xip32()));
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    unfolded = rs.getBoolean(1);
                }
            }
            if (!unfolded) {
                s.execute("truncate " + other);
            }
            c.commit();
            return !unfolded;
        } catch (SQLException e) {
            c.rollback();
            if ("55P03".equals(SqlErrors.state(e))) {
                return false;
            }
            throw e;
        } finally {
            c.setAutoCommit(true);
        }
    }

    private static void rotate(Connection c, CapturedTable t, Fence fence) throws SQLException {
        // one statement: the fence's check and the rotation commit together
        try (PreparedStatement ps = c.prepareStatement("select ibex.fence(?, ?), ibex.rotate_log(?, ?)")) {
            ps.setString(1, fence.sync());
            ps.setLong(2, fence.epoch());
            ps.setString(3, t.table().schema());
            ps.setString(4, t.table().name());
            ps.execute();
        }
    }
}
