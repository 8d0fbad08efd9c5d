package dev.ibex.conflict;

import java.util.Objects;

/**
 * One node's state of one row when a round decides it: the row's version, the timestamp and
 * origin of the change that produced it, the row image ({@code null} when the row is absent,
 * i.e. deleted or never there), and, for tables whose resolver asks for it, the base.
 *
 * <p>The base is the row as this node held it before its changes that no other node has seen
 * yet, with that row's version: the starting point of this side's own edits, so that a resolver
 * can tell which columns this side changed and by how much. {@link #pendingBase} is {@code null}
 * when the node has no such changes (or the table does not track bases); then the base is the
 * side itself.
 *
 * @param stampMicros change timestamp, microseconds since the epoch (0 when never changed)
 * @param origin      the node that made the change this version carries, or {@code null}
 * @param pendingBase the row before this node's unseen local changes, or {@code null}
 */
public record Side(NodeId node, VersionVector version, long stampMicros, NodeId origin, RowImage image, Base pendingBase) {
    /**
     * A base: the row as a node held it (image {@code null}: absent) at {@code version}.
     */
    public record Base(RowImage image, VersionVector version) {
        public Base {
            Objects.requireNonNull(version, "version");
        }
    }

    public Side {
        Objects.requireNonNull(node, "node");
        Objects.requireNonNull(version, "version");
    }

    public Side(NodeId node, VersionVector version, long stampMicros, NodeId origin, RowImage image) {
        this(node, version, stampMicros, origin, image, null);
    }

    public boolean present() {
        return image != null;
    }

    /** The node whose name breaks stamp ties: the change's origin when known, else the holder. */
    public NodeId author() {
        return origin != null ? origin : node;
    }

    /** The row before this side's unseen local changes ({@code null}: absent then). */
    public RowImage baseImage() {
        return pendingBase != null ? pendingBase.image() : image;
    }

    /** The version of {@link #baseImage()}. */
    public VersionVector baseVersion() {
        return pendingBase != null ? pendingBase.version() : version;
    }
}
