package dev.ibex.engine.round;

import dev.ibex.conflict.NodeId;
import dev.ibex.conflict.RowImage;
import dev.ibex.conflict.Side;
import dev.ibex.conflict.VersionVector;
import dev.ibex.engine.apply.CopyRow;
import dev.ibex.engine.apply.SeenRow;

/**
 * One node's state of one key as a round read it: the version its ledger holds (local changes
 * folded in), the stamp and origin of the change that made it, the row as seen ({@code xmin}), and
 * whether the row is settled: no change to it is waiting in the node's log unfolded. An unsettled
 * key is left for the next round, whose fold takes that change. The row image is read only where a
 * decision needs it ({@code image} is then the row, or {@code null} for an absent row).
 *
 * @param imageRead whether {@code image} was read (false in the versions-only read, and in a source's
 *                  change stream, which carries the row as {@code row} instead)
 * @param row       the row in COPY text as a source's change stream carries it, or {@code null}
 * @param base      the node's pending base, for resolvers that ask for it, or {@code null}
 */
record KeySide(NodeId node, VersionVector version, long stampMicros, NodeId origin, SeenRow seen, boolean settled,
               boolean imageRead, RowImage image, CopyRow row, Side.Base base) {
    /** The side as the conflict module sees it; its image must have been read. */
    Side side() {
        if (!imageRead) {
            throw new IllegalStateException("side of node " + node + " was read without its row");
        }
        return new Side(node, version, stampMicros, origin, image, base);
    }

    /** The node whose name breaks stamp ties, and whose ordinal a target records as origin. */
    NodeId author() {
        return origin != null ? origin : node;
    }
}
