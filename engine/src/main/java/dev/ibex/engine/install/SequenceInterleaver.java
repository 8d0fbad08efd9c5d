package dev.ibex.engine.install;

import dev.ibex.conflict.NodeId;
import dev.ibex.engine.IbexException;
import dev.ibex.engine.UsageException;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.SyncSettings;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.config.TableSettings;
import dev.ibex.engine.db.Idents;
import dev.ibex.engine.db.NodeDirectory;
import dev.ibex.engine.db.Redactor;
import dev.ibex.engine.db.SqlErrors;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Finds the key columns of a sync's tables that take their values from a sequence (serial,
 * identity, or a {@code nextval} default) and sets each such sequence on node ordinal {@code k} to
 * hand out only values congruent to {@code k} modulo a step, starting above every value present on
 * any node, so that independent masters never draw the same key.
 *
 * <p>Every sequence is altered inside one open transaction per node: the first
 * {@code ALTER SEQUENCE} takes the sequence's lock, so no {@code nextval} on that node runs between
 * reading its last value and restarting it; the new starts are computed from what every node holds
 * under those locks, then the transactions commit. A refused or failed run changes nothing; a
 * sequence already in its class above every foreign value is left alone (idempotent).
 */
public final class SequenceInterleaver {
    private static final String LOCK_TIMEOUT = "2s";

    /** What happened to one sequence on one node. */
    public record Change(String node, String sequence, List<String> keys, long oldIncrement, long oldNext, long newIncrement,
                         long newNext, boolean changed) {
    }

    /** The outcome of one run: the step used and one change per node and sequence. */
    public record Report(String sync, long step, List<Change> changes) {
        public boolean changedAny() {
            return changes.stream().anyMatch(Change::changed);
        }
    }

    /** One sequence on one node, read under its lock. */
    private record Held(NodeId node, String sequence, List<KeySequence> keys, long oldIncrement, long lastValue, boolean called) {
        long oldNext() {
            return called ? lastValue + oldIncrement : lastValue;
        }
    }

    private final ControlStore control;
    private final NodeDirectory directory;

    public SequenceInterleaver(ControlStore control, NodeDirectory directory) {
        this.control = control;
        this.directory = directory;
    }

    /**
     * One warning per table of {@code tables} whose key takes its values from a sequence on a node of
     * {@code sync}; nodes that cannot be read are passed over (the caller has just checked them).
     */
    public List<String> warnings(String syncName, List<TableRef> tables) {
        SyncSettings sync = control.syncs().get(syncName);
        Map<TableRef, String> found = new TreeMap<>();
        for (NodeId n : sync.nodes()) {
            try (Connection c = directory.pool(n.name()).getConnection()) {
                for (TableRef t : tables) {
                    for (KeySequence k : KeySequence.read(c, t)) {
                        found.putIfAbsent(t, "key column " + k.column() + " takes its values from sequence " + k.sequenceName());
                    }
                }
            } catch (SQLException | IbexException e) {
                // the node was reachable a moment ago; the warning is advice, not a check
            }
        }
        List<String> out = new ArrayList<>();
        found.forEach((t, what) -> out.add("table " + t + ": " + what + ", and independent masters will hand out the same keys; run 'ibex "
                + "sequences interleave " + syncName + "' (or use uuid keys or a snowflake-style generator)"));
        return out;
    }

    /** Interleaves every key sequence of sync {@code syncName}; {@code step} null means the default. */
    public Report interleave(String syncName, Long step) {
        SyncSettings sync = control.syncs().get(syncName);
        int highestOrdinal = sync.nodes().stream().mapToInt(NodeId::ordinal).max().orElse(1);
        long s = step == null ? InterleavePlanner.defaultStep(highestOrdinal) : step;
        if (s < 2) {
            throw new UsageException("--step " + s + " is too small: it must be at least 2 (and at least the number of nodes)");
        }
        if (s < highestOrdinal) {
            throw new UsageException("--step " + s + " is smaller than the " + highestOrdinal + " nodes of sync " + syncName
                    + "; each node needs its own residue class: give --step " + highestOrdinal + " or more");
        }
        Map<NodeId, Connection> conns = directory.connectAll(sync.name(), sync.nodes(), "to interleave its sequences");
        try {
            Map<NodeId, Map<String, List<KeySequence>>> found = discover(sync, conns);
            requireOwnership(found, conns);
            return apply(sync, s, found, conns);
        } catch (SQLException e) {
            throw new IbexException("sync " + syncName + ": " + Redactor.firstLine(e.getMessage())
                    + (SqlErrors.isLockNotAvailable(e) ? " (a long transaction holds a key sequence; run again when it ends)" : "")
                    + "; nothing changed", e);
        } finally {
            conns.values().forEach(SequenceInterleaver::closeQuietly);
        }
    }

    /** Per node, the key sequences by qualified name, each with the key columns it feeds. */
    private static Map<NodeId, Map<String, List<KeySequence>>> discover(SyncSettings sync, Map<NodeId, Connection> conns)
            throws SQLException {
        Map<NodeId, Map<String, List<KeySequence>>> out = new LinkedHashMap<>();
        for (Map.Entry<NodeId, Connection> e : conns.entrySet()) {
            Map<String, List<KeySequence>> bySequence = new TreeMap<>();
            for (TableSettings t : sync.tables()) {
                for (KeySequence k : KeySequence.read(e.getValue(), t.table())) {
                    bySequence.computeIfAbsent(k.sequenceName(), x -> new ArrayList<>()).add(k);
                }
            }
            out.put(e.getKey(), bySequence);
        }
        return out;
    }

    private static void requireOwnership(Map<NodeId, Map<String, List<KeySequence>>> found, Map<NodeId, Connection> conns)
            throws SQLException {
        List<String> problems = new ArrayList<>();
        for (Map.Entry<NodeId, Map<String, List<KeySequence>>> e : found.entrySet()) {
            for (List<KeySequence> keys : e.getValue().values()) {
                KeySequence k = keys.get(0);
                try (PreparedStatement ps = conns.get(e.getKey()).prepareStatement(
                        "select pg_has_role(c.relowner, 'USAGE'), pg_get_userbyid(c.relowner), current_user from pg_class c where c.oid = to_regclass(?)")) {
                    ps.setString(1, Idents.name(k.schema(), k.sequence()));
                    try (ResultSet rs = ps.executeQuery()) {
                        if (rs.next() && !rs.getBoolean(1)) {
                            problems.add("node " + e.getKey() + ": sequence " + k.sequenceName() + " is owned by " + rs.getString(2)
                                    + ", not " + rs.getString(3) + " (run there: GRANT " + Idents.name(rs.getString(2)) + " TO "
                                    + Idents.name(rs.getString(3)) + ", or ALTER SEQUENCE " + Idents.name(k.schema(), k.sequence())
                                    + " OWNER TO " + Idents.name(rs.getString(3)) + ")");
                        }
                    }
                }
            }
        }
        if (!problems.isEmpty()) {
            throw new IbexException("cannot alter key sequences, nothing changed: " + String.join("; ", problems));
        }
    }

    private static Report apply(SyncSettings sync, long step, Map<NodeId, Map<String, List<KeySequence>>> found,
                                Map<NodeId, Connection> conns) throws SQLException {
        List<Held> held = new ArrayList<>();
        List<Change> changes = new ArrayList<>();
        try {
            for (Map.Entry<NodeId, Map<String, List<KeySequence>>> e : found.entrySet()) {
                Connection c = conns.get(e.getKey());
                c.setAutoCommit(false);
                execute(c, "set local lock_timeout = '" + LOCK_TIMEOUT + "'");
                for (Map.Entry<String, List<KeySequence>> seq : e.getValue().entrySet()) {
                    held.add(lock(c, e.getKey(), seq.getValue(), step));
                }
            }
            for (String sequence : held.stream().map(Held::sequence).distinct().sorted().toList()) {
                changes.addAll(plan(held.stream().filter(h -> h.sequence().equals(sequence)).toList(), step, conns));
            }
            for (Change ch : changes) {
                if (ch.changed()) {
                    KeySequence k = held.stream().filter(h -> h.node().name().equals(ch.node()) && h.sequence().equals(ch.sequence()))
                            .findFirst().orElseThrow().keys().get(0);
                    execute(conns.get(sync.node(ch.node()).orElseThrow()), "alter sequence " + Idents.name(k.schema(), k.sequence())
                            + " restart with " + ch.newNext());
                }
            }
        } catch (SQLException | RuntimeException e) {
            rollback(conns);
            throw e;
        }
        if (changes.stream().noneMatch(Change::changed)) {
            rollback(conns);
        } else {
            commit(conns);
        }
        return new Report(sync.name(), step, changes);
    }

    /** Takes the sequence's lock (by setting its increment, inside the open transaction) and reads it. */
    private static Held lock(Connection c, NodeId node, List<KeySequence> keys, long step) throws SQLException {
        KeySequence k = keys.get(0);
        String name = Idents.name(k.schema(), k.sequence());
        long oldIncrement;
        try (PreparedStatement ps = c.prepareStatement("select seqincrement from pg_sequence where seqrelid = to_regclass(?)")) {
            ps.setString(1, name);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                oldIncrement = rs.getLong(1);
            }
        }
        execute(c, "alter sequence " + name + " increment by " + step);
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("select last_value, is_called from " + name)) {
            rs.next();
            return new Held(node, k.sequenceName(), keys, oldIncrement, rs.getLong(1), rs.getBoolean(2));
        }
    }

    /**
     * Decides the new start of one sequence on every node that has it. A node whose sequence already
     * draws its own class with this step, above every value of that class held on any node and above
     * what other nodes' not yet interleaved sequences have handed out, keeps it (values of other
     * classes can never meet it); the others restart at the first value of their class above
     * everything any node holds or has handed out.
     */
    private static List<Change> plan(List<Held> same, long step, Map<NodeId, Connection> conns) throws SQLException {
        long high = Long.MIN_VALUE;
        for (Held h : same) {
            high = Math.max(high, h.called() ? h.lastValue() : h.lastValue() - 1);
            for (KeySequence k : h.keys()) {
                high = Math.max(high, maxOf(conns.get(h.node()), k, null));
            }
        }
        List<Change> out = new ArrayList<>();
        for (Held h : same) {
            long residue = InterleavePlanner.residue(h.node().ordinal(), step);
            boolean kept = InterleavePlanner.inClass(h.oldNext(), h.oldIncrement(), residue, step)
                    && h.oldNext() > classHigh(h, same, step, conns);
            long next = kept ? h.oldNext() : InterleavePlanner.startAbove(high, residue, step);
            out.add(new Change(h.node().name(), h.sequence(), h.keys().stream().map(k -> k.table() + "." + k.column()).toList(),
                    h.oldIncrement(), h.oldNext(), step, next, !kept));
        }
        return out;
    }

    /**
     * The largest value of {@code h}'s class that any node holds, or that another node's sequence not
     * yet in its own class may have handed out (those values are at most its last value).
     */
    private static long classHigh(Held h, List<Held> same, long step, Map<NodeId, Connection> conns) throws SQLException {
        long residue = InterleavePlanner.residue(h.node().ordinal(), step);
        long high = Long.MIN_VALUE;
        for (Held other : same) {
            long otherResidue = InterleavePlanner.residue(other.node().ordinal(), step);
            if (other != h && !InterleavePlanner.inClass(other.oldNext(), other.oldIncrement(), otherResidue, step)) {
                high = Math.max(high, other.lastValue());
            }
            for (KeySequence k : h.keys()) {
                high = Math.max(high, maxOf(conns.get(other.node()), k, new long[] {step, residue}));
            }
        }
        return high;
    }

    /**
     * The largest value of the key column, or of those in class {@code [step, residue]} (found by a
     * backward scan of the key's index that stops at the first value of the class); MIN_VALUE if none.
     */
    private static long maxOf(Connection c, KeySequence k, long[] inClass) throws SQLException {
        String col = Idents.name(k.column());
        String sql = "select " + col + " from " + Idents.name(k.table().schema(), k.table().name()) + " where " + col + " is not null"
                + (inClass == null ? "" : " and mod(" + col + ", " + inClass[0] + ") = " + inClass[1])
                + " order by " + col + " desc limit 1";
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            return rs.next() ? rs.getLong(1) : Long.MIN_VALUE;
        }
    }

    private static void execute(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }

    private static void commit(Map<NodeId, Connection> conns) {
        List<String> done = new ArrayList<>();
        for (Map.Entry<NodeId, Connection> e : conns.entrySet()) {
            try {
                e.getValue().commit();
                done.add(e.getKey().name());
            } catch (SQLException ex) {
                rollback(conns);
                throw new IbexException("node " + e.getKey() + ": " + Redactor.firstLine(ex.getMessage()) + "; sequences already changed on "
                        + done + "; run the command again", ex);
            }
        }
    }

    private static void rollback(Map<NodeId, Connection> conns) {
        conns.values().forEach(c -> {
            try {
                if (!c.getAutoCommit()) {
                    c.rollback();
                }
            } catch (SQLException ignored) {
                // the connection is closed next; its transaction ends with it
            }
        });
    }

    private static void closeQuietly(Connection c) {
        try {
            c.close();
        } catch (SQLException ignored) {
            // nothing to do
        }
    }
}
