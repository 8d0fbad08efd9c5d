package dev.ibex.conflict;

import java.util.Objects;

/**
 * One node's state of one row when a round decides it: the row's version, the timestamp and
 * origin of the change that produced it, and the row image ({@code null} when the row is absent,
 * i.e. deleted or never there).
 *
 * @param stampMicros change timestamp, microseconds since the epoch (0 when never changed)
 * @param origin      the node that made the change this version carries, or {@code null}
 */
public record Side(NodeId node, VersionVector version, long stampMicros, NodeId origin, RowImage image) {
    public Side {
        Objects.requireNonNull(node, "node");
        Objects.requireNonNull(version, "version");
    }

    public boolean present() {
        return image != null;
    }

    /** The node whose name breaks stamp ties: the change's origin when known, else the holder. */
    public NodeId author() {
        return origin != null ? origin : node;
    }
}
