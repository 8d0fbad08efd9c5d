package dev.ibex.it;

import dev.ibex.conflict.Conflict;
import dev.ibex.conflict.ConflictResolver;
import dev.ibex.conflict.Resolution;

/** A broken custom resolver, for the test that a failing strategy stalls only its own table. */
public final class ThrowingResolver implements ConflictResolver {
    @Override
    public Resolution resolve(Conflict conflict) {
        throw new IllegalStateException("deliberately broken resolver");
    }

    @Override
    public String name() {
        return "throwing";
    }
}
