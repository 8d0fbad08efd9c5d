package dev.ibex.conflict;

/** How one version relates to another. */
public enum Causality {
    /** Both have seen exactly the same changes. */
    EQUAL,
    /** This version was seen by the other one (the other supersedes it). */
    BEFORE,
    /** This version has seen the other one (it supersedes the other). */
    AFTER,
    /** Neither has seen the other: a conflict if their contents differ. */
    CONCURRENT
}
