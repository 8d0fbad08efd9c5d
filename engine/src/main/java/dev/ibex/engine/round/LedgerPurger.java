package dev.ibex.engine.round;

import dev.ibex.conflict.VersionVector;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.capture.TableInspector;
import dev.ibex.engine.capture.TableShape;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.db.Idents;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.fence.Fence;
import java.sql.Array;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;

/**
 * Keeps ledgers small. A ledger entry (a key's version on one node) is needed while some node
 * lacks that version: to find the key, to tell which side of a conflict saw which change. Once
 * every node of the sync holds the same version of a key, with no pending base, the entry says
 * nothing a missing entry would not: a key absent from every ledger is a key no node changed since
 * they last agreed, and the next change to it anywhere starts a new version that dominates the
 * empty one. Such entries are deleted from every node; a delete of a deleted row's entry is how
 * tombstones are collected.
 *
 * <p>Deleting from several databases is not atomic. A node that forgot a version while another
 * still holds it would make the first node's next change look concurrent with it. So each chunk's
 * entries (key and version) are recorded in the control database first, deleted on every node
 * (only where the entry still has that version, and skipping rows a writer holds locked), and the
 * record is dropped when every node is done; a purge cut short by a crash or an outage is finished
 * on the remaining nodes by {@link #finish} at the start of the next round that reaches them,
 * before anything is decided.
 */
final class LedgerPurger {
    /** A ledger entry's whole version (its local changes folded in) in canonical form; its parameter is the node's ordinal. */
    private static final String VERSION = "ibex.vv_trim(ibex.version(l.ibex_vv, l.ibex_local, ?))";
    /** The same where the ordinal comes from the statement's {@code o} ({@link #delete}, which names it once). */
    private static final String VERSION_OF_NODE = "ibex.vv_trim(ibex.version(l.ibex_vv, l.ibex_local, (select ord from o)))";

    private final Fence fence;
    private final PurgeLog log;
    private final AtomicLong deleted = new AtomicLong();

    /** @param fence the sync and the epoch it is owned at: every delete, and every record of one, checks it */
    LedgerPurger(Fence fence, PurgeLog log) {
        this.fence = fence;
        this.log = log;
    }

    /** Ledger entries deleted so far, summed over nodes. */
    long deleted() {
        return deleted.get();
    }

    /**
     * Finishes interrupted purges on the given nodes. A node that fails here is removed from
     * {@code sessions} (and closed): this round must not decide with a node that may still hold
     * versions the others forgot.
     */
    void finish(List<NodeSession> sessions, List<String> errors, java.util.function.BiConsumer<NodeSession, String> dropped) {
        for (long id : log.pending(fence.sync())) {
            PurgeLog.Batch b = log.batch(id);
            Set<String> left = new LinkedHashSet<>(b.nodesLeft());
            for (Iterator<NodeSession> it = sessions.iterator(); it.hasNext(); ) {
                NodeSession s = it.next();
                if (!left.contains(s.node.name())) {
                    continue;
                }
                try {
                    Optional<TableShape> shape = TableInspector.inspect(s.reader, b.table());
                    if (shape.isEmpty() || !ledgerExists(s, b.table()) || delete(s, shape.get(), b.keys(), b.versions())) {
                        left.remove(s.node.name());
                    }
                } catch (SQLException | IbexException e) {
                    if (Fence.rejected(e)) {
                        throw Fence.asRejection("node " + s.node + ": finishing a ledger purge", e).orElseThrow();
                    }
                    String why = "node " + s.node + ": finishing an interrupted ledger purge of table " + b.table() + ": "
                            + Redactor.firstLine(e.getMessage()) + "; the node sits this round out";
                    errors.add(why);
                    it.remove();
                    dropped.accept(s, why);
                }
            }
            log.left(fence, id, left);
        }
    }

    /**
     * Purges the entries of {@code table} (whose ledger exists on the first node) that every node in
     * {@code sessions} holds at the same version, scanning the first node's ledger in key order from
     * just after {@code after} (from the start when null), one chunk at a time. Returns the last key
     * scanned when it stopped because {@code deadline} (a {@link System#nanoTime} value) passed, after
     * at least one chunk, so that the next round goes on from there; empty when the table is done
     * (or failed, with the error added).
     */
    Optional<List<String>> purge(TableRef table, List<NodeSession> sessions, List<String> errors, List<String> after, long deadline) {
        NodeSession first = sessions.get(0);
        TableShape shape;
        try {
            Optional<TableShape> found = TableInspector.inspect(first.reader, table);
            if (found.isEmpty()) {
                return Optional.empty();
            }
            shape = found.get();
        } catch (IbexException e) {
            errors.add("node " + first.node + ", table " + table + ": ledger purge: " + Redactor.firstLine(e.getMessage()));
            return Optional.empty();
        }
        String keys = shape.key().stream().map(k -> dev.ibex.engine.capture.ShapeSql.keyText(shape, k)).collect(Collectors.joining(", "));
        // qualified: the canonical text of a key column has the column's name, and ORDER BY would take that text
        String order = Idents.list("l", shape.key());
        // every entry of the chunk, in key order, with whether it may go (no base pending): a filter in the scan itself
        // made the planner, which has no useful statistics of a ledger, sort the whole ledger for every chunk (25-30 ms
        // of a 500-key chunk with 26 000 entries, more with more)
        String scan = "select " + keys + ", " + VERSION + ", l.ibex_base is null from " + ledger(shape) + " l";
        String afterCursor = " where (" + order + ") > (" + shape.key().stream().map(k -> "?::" + shape.typeOf(k))
                .collect(Collectors.joining(", ")) + ")";
        String chunk = " order by " + order + " limit " + RoundRunner.PURGE_CHUNK;
        try {
            List<String> cursor = after;
            while (true) {
                List<List<String>> chunkKeys = new ArrayList<>(RoundRunner.PURGE_CHUNK);
                List<VersionVector> chunkVersions = new ArrayList<>(RoundRunner.PURGE_CHUNK);
                List<String> last = null;
                int scanned = 0;
                try (PreparedStatement ps = first.reader.prepareStatement(scan + (cursor == null ? "" : afterCursor) + chunk)) {
                    ps.setInt(1, first.node.ordinal());
                    for (int i = 0; cursor != null && i < cursor.size(); i++) {
                        ps.setString(i + 2, cursor.get(i));
                    }
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) {
                            List<String> k = new ArrayList<>(shape.key().size());
                            for (int i = 1; i <= shape.key().size(); i++) {
                                k.add(rs.getString(i));
                            }
                            scanned++;
                            last = k;
                            if (rs.getBoolean(shape.key().size() + 2)) {
                                chunkKeys.add(k);
                                chunkVersions.add(version(rs.getArray(shape.key().size() + 1)));
                            }
                        }
                    }
                }
                if (!chunkKeys.isEmpty()) {
                    purgeChunk(shape, sessions, chunkKeys, chunkVersions);
                }
                if (scanned < RoundRunner.PURGE_CHUNK) {
                    return Optional.empty();
                }
                cursor = last;
                if (System.nanoTime() - deadline > 0) {
                    return Optional.of(cursor);
                }
            }
        } catch (SQLException | IbexException e) {
            errors.add("table " + table + ": ledger purge: " + Redactor.firstLine(e.getMessage()));
            return Optional.empty();
        }
    }

    /** Keeps the keys whose version every other node holds too, records them, and deletes them everywhere. */
    private void purgeChunk(TableShape shape, List<NodeSession> sessions, List<List<String>> keys, List<VersionVector> versions)
            throws SQLException {
        boolean[] agreed = new boolean[keys.size()];
        java.util.Arrays.fill(agreed, true);
        String sql = "select " + VERSION + ", l.ibex_base is null from " + KeyArrays.unnest(shape) + " left join "
                + ledger(shape) + " l on " + KeyArrays.match(shape, "l") + " order by k.ord";
        for (NodeSession s : sessions.subList(1, sessions.size())) {
            try (PreparedStatement ps = s.reader.prepareStatement(sql)) {
                ps.setInt(1, s.node.ordinal());
                KeyArrays.bind(s.reader, ps, 2, shape, keys);
                try (ResultSet rs = ps.executeQuery()) {
                    for (int i = 0; rs.next(); i++) {
                        Array vv = rs.getArray(1);
                        agreed[i] &= vv != null && rs.getBoolean(2) && version(vv).equals(versions.get(i));
                    }
                }
            }
        }
        List<List<String>> doomedKeys = new ArrayList<>();
        List<VersionVector> doomedVersions = new ArrayList<>();
        for (int i = 0; i < keys.size(); i++) {
            if (agreed[i]) {
                doomedKeys.add(keys.get(i));
                doomedVersions.add(versions.get(i));
            }
        }
        if (doomedKeys.isEmpty()) {
            return;
        }
        Set<String> left = new LinkedHashSet<>();
        sessions.forEach(s -> left.add(s.node.name()));
        long id = log.open(fence, shape.table(), doomedKeys, doomedVersions, left);
        // every node's delete at once (separate servers, each on its own connection): a chunk waits for the slowest
        List<NodeDelete> deletes = PerNode.each(sessions, s -> {
            try {
                return new NodeDelete(delete(s, shape, doomedKeys, doomedVersions), null);
            } catch (SQLException e) {
                return new NodeDelete(false, e);
            }
        });
        SQLException failed = null;
        for (int i = 0; i < sessions.size(); i++) {
            if (deletes.get(i).done()) {
                left.remove(sessions.get(i).node.name());
            }
            failed = deletes.get(i).failure() != null ? deletes.get(i).failure() : failed;
        }
        log.left(fence, id, left);
        if (failed != null) {
            throw failed;
        }
    }

    /**
     * Deletes the entries that still have the recorded version, skipping rows a writer holds
     * locked; returns true when none was skipped (a writer that held one may roll back, so the node
     * is done only when every entry the delete saw with that version is gone). One statement, so
     * that an entry a writer creates after it, with the same version (versions start over once a
     * key is purged), is neither counted as left nor deleted by a later {@link #finish}.
     */
    private boolean delete(NodeSession s, TableShape shape, List<List<String>> keys, List<VersionVector> versions) throws SQLException {
        String seen = "select l.ctid as c, k.v from " + KeyArrays.unnest(shape, "v") + " join " + ledger(shape) + " l on "
                + KeyArrays.match(shape, "l") + " where " + VERSION + " = k.v::bigint[] and l.ibex_base is null";
        String gone = "delete from " + ledger(shape) + " d where d.ctid in (select l.ctid from " + ledger(shape) + " l join seen "
                + "on l.ctid = seen.c where " + VERSION + " = seen.v::bigint[] and l.ibex_base is null "
                + "for update of l skip locked) returning 1";
        try (PreparedStatement ps = bound(s, "with o as (select ?::integer as ord, " + fence.call() + " as fenced), seen as materialized (" + seen + "), gone as ("
                + gone + ") select (select count(*) from gone), (select count(*) from seen)", shape, keys, versions);
             ResultSet rs = ps.executeQuery()) {
            rs.next();
            deleted.addAndGet(rs.getLong(1));
            return rs.getLong(1) == rs.getLong(2);
        }
    }

    /** One node's delete of a chunk: whether no entry was left, or why it failed. */
    private record NodeDelete(boolean done, SQLException failure) {
    }

    /** A statement on the node's writer with the keys and their versions bound. */
    private static PreparedStatement bound(NodeSession s, String sql, TableShape shape, List<List<String>> keys,
                                           List<VersionVector> versions) throws SQLException {
        PreparedStatement ps = s.writer.prepareStatement(sql.replace(VERSION, VERSION_OF_NODE));
        try {
            ps.setInt(1, s.node.ordinal());
            int next = KeyArrays.bind(s.writer, ps, 2, shape, keys);
            ps.setArray(next, s.writer.createArrayOf("text", versions.stream().map(LedgerPurger::text).toArray()));
            return ps;
        } catch (SQLException e) {
            ps.close();
            throw e;
        }
    }

    private static boolean ledgerExists(NodeSession s, TableRef table) throws SQLException {
        try (PreparedStatement ps = s.reader.prepareStatement("select to_regclass(?) is not null")) {
            ps.setString(1, ledger(table));
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getBoolean(1);
            }
        }
    }

    private static String ledger(TableShape shape) {
        return ledger(shape.table());
    }

    private static String ledger(TableRef table) {
        return Idents.name("ibex", table.ledgerName());
    }

    private static VersionVector version(Array a) throws SQLException {
        return a == null ? VersionVector.EMPTY : VersionVector.ofBoxed((Long[]) a.getArray());
    }

    private static String text(VersionVector v) {
        return java.util.Arrays.stream(v.toArray()).mapToObj(Long::toString).collect(Collectors.joining(",", "{", "}"));
    }
}
