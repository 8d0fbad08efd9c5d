package dev.ibex.engine.status;

import dev.ibex.engine.config.Strategies;
import dev.ibex.engine.journal.ConflictEntry;
import dev.ibex.engine.journal.ConflictJournal;
import dev.ibex.engine.status.RowTrace.NodeTrace;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * Says why the nodes hold what they hold for one row, from what a trace read and nothing else: the
 * nodes that could not be read, the newest journal entry for the key, the changes still pending on
 * each node, and then whether the nodes agree (on which version, written where and when) or differ
 * with nothing pending to explain it. Pure: no I/O, no clock.
 */
public final class TraceExplainer {
    private TraceExplainer() {
    }

    public static List<String> explain(String sync, String table, List<NodeTrace> nodes, List<ConflictEntry> conflicts) {
        List<String> why = new ArrayList<>();
        nodes.stream().filter(n -> !n.known()).forEach(n -> why.add("node " + n.node() + (n.reachable() ? " could not be read" : " is unreachable")
                + ": its row is unknown (" + n.error() + ")"));
        ConflictEntry newest = conflicts.isEmpty() ? null : conflicts.get(0);
        if (newest != null) {
            why.add(conflict(newest) + (conflicts.size() > 1 ? " (" + (conflicts.size() - 1) + " earlier conflict(s) on this key in the journal)" : ""));
        }
        List<NodeTrace> known = nodes.stream().filter(NodeTrace::known).toList();
        for (NodeTrace n : known) {
            if (n.pending().unfolded() > 0) {
                why.add(n.node() + " has " + n.pending().unfolded() + " change(s) to this row that no round has taken yet (the newest at "
                        + n.pending().newestUnfoldedAt() + "): pending on " + n.node() + ", the next round decides it");
            }
            if (!n.pending().notYetOn().isEmpty()) {
                why.add(n.node() + "'s change (version " + version(n) + ", at " + n.ledger().changedAt() + ") is not applied on "
                        + String.join(", ", n.pending().notYetOn()) + " yet: pending on " + n.node() + ", the next round brings it");
            }
        }
        if (known.isEmpty()) {
            return why;
        }
        boolean held = newest != null && newest.status().awaitsOperator();
        boolean pending = held || known.stream().anyMatch(n -> n.pending().any());
        String scope = known.size() == nodes.size() ? "all nodes" : "the nodes that could be read";
        if (agree(known)) {
            why.add(agreement(scope, known.get(0)));
        } else if (!pending) {
            boolean sameVersion = known.stream().map(n -> n.ledger() == null ? null : n.ledger().vector()).distinct().count() == 1;
            why.add((sameVersion ? "the nodes hold the same version but different rows: the row was changed where capture does not see it"
                    : "the rows differ while no change is pending")
                    + ": run 'ibex validate " + sync + " --table " + table + "' (and see 'ibex status " + sync + "')");
        } else if (!held) {
            why.add("the nodes differ until a round reconciles the pending change(s) above");
        }
        return why;
    }

    /** Every node read holds the same row (or none) at the same version. */
    private static boolean agree(List<NodeTrace> known) {
        NodeTrace first = known.get(0);
        return known.stream().allMatch(n -> n.state().equals(first.state()) && Objects.equals(n.row(), first.row())
                && Objects.equals(n.ledger() == null ? null : n.ledger().vector(), first.ledger() == null ? null : first.ledger().vector()));
    }

    private static String agreement(String scope, NodeTrace n) {
        if (n.ledger() == null) {
            return RowTrace.PRESENT.equals(n.state())
                    ? scope + " hold the same row and no change to it is on record (unchanged since capture, or its ledger entries "
                            + "were purged once every node held them)"
                    : "no node holds this row and no change to it is on record";
        }
        String what = RowTrace.DELETED.equals(n.state()) ? "deleted" : "written";
        return scope + " hold version " + version(n) + ": the row as " + what + " on " + n.ledger().origin() + " at " + n.ledger().changedAt()
                + (RowTrace.DELETED.equals(n.state()) ? " (the tombstone keeps a late change from bringing it back)" : "");
    }

    private static String version(NodeTrace n) {
        return version(n.ledger().version());
    }

    /** A version as people read it: {@code {a:3, b:1}}. */
    public static String version(Map<String, Long> v) {
        return v.entrySet().stream().map(e -> e.getKey() + ":" + e.getValue()).collect(Collectors.joining(", ", "{", "}"));
    }

    static String conflict(ConflictEntry e) {
        String head = "conflict #" + e.id() + " at " + e.decidedAt().toInstant();
        return switch (e.status()) {
            case OPEN -> head + " is held for an operator (" + e.strategy() + "): each node keeps its own row until "
                    + "'ibex conflicts resolve " + e.id() + " --take NODE'";
            case RESOLVED -> head + ": an operator chose (" + e.resolvedBy() + "); the next round applies it";
            case APPLIED -> head + (e.resolvedBy() == null ? " was decided by merging the sides"
                    : ": an operator chose (" + e.resolvedBy() + ") and a round applied it");
            default -> head + " decided by " + e.strategy() + ": " + reason(e);
        };
    }

    /** Why the winner won, as far as the entry tells it. */
    private static String reason(ConflictEntry e) {
        if (ConflictJournal.MERGED.equals(e.winner())) {
            return "the sides of " + e.sides().stream().map(ConflictEntry.SideEntry::origin).distinct().collect(Collectors.joining(", "))
                    + " were merged into one row";
        }
        ConflictEntry.SideEntry w = e.sides().stream().filter(s -> s.origin().equals(e.winner())).findFirst()
                .or(() -> e.sides().stream().filter(s -> s.node().equals(e.winner())).findFirst()).orElse(null);
        if (w == null) {
            return e.winner() + " won";
        }
        List<ConflictEntry.SideEntry> losers = e.sides().stream().filter(s -> s != w && !s.origin().equals(w.origin())).toList();
        String others = losers.stream().map(TraceExplainer::side).collect(Collectors.joining(" and "));
        if (Strategies.kind(e.strategy()) == Strategies.Kind.LATEST && !losers.isEmpty()) {
            boolean tie = losers.stream().anyMatch(s -> Objects.equals(at(s), at(w)));
            return side(w) + (tie ? " has the same change time as " + others + " and " + w.origin() + " sorts first by name"
                    : " is newer than " + others);
        }
        if (Strategies.kind(e.strategy()) == Strategies.Kind.PRIORITY) {
            return side(w) + " won over " + others + " (the sync's priority order, then the newest change)";
        }
        return side(w) + " won over " + others;
    }

    /** {@code a's change (2026-12-07T05:01:02Z)} or {@code b's delete (...)}. */
    private static String side(ConflictEntry.SideEntry s) {
        return s.origin() + "'s " + (s.row() == null ? "delete" : "change") + " (" + s.changedAt() + ")";
    }

    private static Instant at(ConflictEntry.SideEntry s) {
        return s.changedAt() == null ? null : Instant.parse(s.changedAt());
    }
}
