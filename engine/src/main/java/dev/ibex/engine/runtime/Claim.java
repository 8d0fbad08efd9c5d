package dev.ibex.engine.runtime;

import java.util.function.BooleanSupplier;
import java.util.function.Predicate;

/**
 * How an engine takes syncs: its name (what the control database records as their owner), which
 * other owners it must leave a sync to, and what it does when a fence refuses its write.
 *
 * @param ownerStillRuns true for another engine that still runs the sync it owns: standalone, one
 *                       whose heartbeat is recent; in a cluster, none (Cluster Sharding decided
 *                       that this engine runs the sync, so any other owner has handed it over,
 *                       crashed, or been cut off and downed)
 * @param settled        whether this engine may take syncs now: standalone always; in a cluster,
 *                       while it is an Up member that sees every other member (an engine that
 *                       wakes after being frozen sees the others unreachable until it learns that
 *                       they downed it, and must not take back the syncs that moved meanwhile)
 * @param rejections     told of every fence rejection (the engine counts them)
 */
record Claim(String engine, Predicate<String> ownerStillRuns, BooleanSupplier settled, Runnable rejections) {
}
