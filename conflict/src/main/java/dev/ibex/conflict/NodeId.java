package dev.ibex.conflict;

import java.util.Objects;

/** A node's name within a sync, with its ordinal (its index in the sync's version vectors). */
public record NodeId(String name, int ordinal) implements Comparable<NodeId> {
    public NodeId {
        Objects.requireNonNull(name, "name");
        if (ordinal < 1) {
            throw new IllegalArgumentException("node ordinals start at 1, got " + ordinal + " for " + name);
        }
    }

    @Override
    public int compareTo(NodeId o) {
        return name.compareTo(o.name);
    }

    @Override
    public String toString() {
        return name;
    }
}
