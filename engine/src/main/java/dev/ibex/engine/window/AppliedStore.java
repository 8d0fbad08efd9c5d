package dev.ibex.engine.window;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Collection;
import java.util.List;

/**
 * The one owner of {@code ibex.applied} on a node: per sync and other member, a snapshot of this
 * node such that every change this node had committed when it was taken has been applied on that
 * member. The round publishes it on each source at its end; {@code ibex.wait_replicated} and
 * {@code ibex sync wait} read it (ADR 0006).
 */
public final class AppliedStore {
    /**
     * Records, for the sync (parameter 1), that the members in parameter 2 have applied everything
     * the snapshot in parameter 3 sees; the other members (parameter 4, every member but this node)
     * keep their row, a new one gets a row without snapshot, and rows of nodes no longer members go.
     * A snapshot never moves back. Written as a data-modifying {@code WITH} so that a statement the
     * round sends anyway carries it: see {@link #publishing}.
     */
    private static final String PUBLISH = """
            gone as (delete from ibex.applied g where g.sync_name = ? and g.target_node <> all (?::text[])),
            published as (insert into ibex.applied as a (sync_name, target_node, snapshot, updated_at)
                          select ?, m.node, case when m.node = any (?::text[]) then ?::pg_snapshot end, now()
                            from unnest(?::text[]) m(node)
                          on conflict (sync_name, target_node) do update set snapshot = excluded.snapshot, updated_at = excluded.updated_at
                           where excluded.snapshot is not null
                             and (a.snapshot is null or pg_snapshot_xmax(excluded.snapshot) >= pg_snapshot_xmax(a.snapshot)))
            """;

    private AppliedStore() {
    }

    /** What one source publishes at the end of a round. */
    public record Publication(String sync, Snapshot fold, Collection<String> reached, Collection<String> members) {
    }

    /**
     * {@code select} (a statement without a {@code WITH} of its own) preceded by the publication,
     * in one statement; {@link #bind} sets its parameters, which come first.
     */
    public static String publishing(String select) {
        return "with " + PUBLISH + select;
    }

    /** Binds a publication's parameters from index 1 of {@code ps}; returns the next index. */
    public static int bind(PreparedStatement ps, Publication p) throws SQLException {
        Connection c = ps.getConnection();
        Object[] members = p.members().toArray();
        ps.setString(1, p.sync());
        ps.setArray(2, c.createArrayOf("text", members));
        ps.setString(3, p.sync());
        ps.setArray(4, c.createArrayOf("text", p.reached().toArray()));
        ps.setString(5, p.fold().toString());
        ps.setArray(6, c.createArrayOf("text", members));
        return 7;
    }

    /** Deletes the rows of syncs that no longer capture a table on this node. */
    public static void forgetUncaptured(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("delete from ibex.applied a where not exists "
                + "(select 1 from ibex.capture k where k.sync_name = a.sync_name)")) {
            ps.executeUpdate();
        }
    }

    /** This node's current snapshot: what has committed here so far. */
    public static Snapshot now(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("select pg_current_snapshot()::text"); ResultSet rs = ps.executeQuery()) {
            rs.next();
            return Snapshot.parse(rs.getString(1));
        }
    }

    /** The other members of {@code sync} that have applied everything this node had committed at {@code since}. */
    public static List<String> reached(Connection c, String sync, Snapshot since) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("select ibex.replicated_nodes(array[?], ?::pg_snapshot)")) {
            ps.setString(1, sync);
            ps.setString(2, since.toString());
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return List.of((String[]) rs.getArray(1).getArray());
            }
        }
    }
}
