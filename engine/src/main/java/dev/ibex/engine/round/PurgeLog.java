package dev.ibex.engine.round;

import dev.ibex.engine.fence.Fence;
import dev.ibex.conflict.VersionVector;
import dev.ibex.engine.config.TableRef;
import java.util.Collection;
import java.util.List;
import java.util.Set;

/**
 * Where a ledger purge records what it deletes before it deletes it, so that a purge interrupted
 * by a crash or an outage is finished on the nodes that did not get to it.
 */
public interface PurgeLog {
    /** Ledger entries of one table (key and version) to delete from each node in {@code nodesLeft}. */
    record Batch(long id, TableRef table, List<List<String>> keys, List<VersionVector> versions, Set<String> nodesLeft) {
    }

    /** Records a batch about to be deleted from {@code nodes}, checking the fence; returns its id. */
    long open(Fence fence, TableRef table, List<List<String>> keys, List<VersionVector> versions, Collection<String> nodes);

    /** Ids of the sync's unfinished batches, oldest first. */
    List<Long> pending(String sync);

    Batch batch(long id);

    /**
     * Whether a node is being copied into the sync now ('ibex sync add-node', 'ibex node resync'):
     * no purge starts meanwhile, since that node, left out of the rounds, keeps the entries it copied.
     */
    boolean copying(String sync);

    /** Records which nodes still have to delete the batch, checking the fence; forgets the batch when none has. */
    void left(Fence fence, long id, Collection<String> nodesLeft);
}
