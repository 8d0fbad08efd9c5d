package dev.ibex.it;

import dev.ibex.conflict.Conflict;
import dev.ibex.conflict.ConflictResolver;
import dev.ibex.conflict.Resolution;

/**
 * A custom resolver that throws an {@link Error}, not an exception, for keys above 1 000: in a round
 * of more than one chunk (the first holds 1 000 keys) it fails on a chunk decided off the round's
 * thread.
 */
public final class LaterChunkErrorResolver implements ConflictResolver {
    @Override
    public Resolution resolve(Conflict conflict) {
        if (Integer.parseInt(conflict.key().get(0)) > 1000) {
            throw new AssertionError("deliberately broken on a later chunk");
        }
        return Resolution.take(conflict.sides().get(0));
    }

    @Override
    public String name() {
        return "later-chunk-error";
    }
}
