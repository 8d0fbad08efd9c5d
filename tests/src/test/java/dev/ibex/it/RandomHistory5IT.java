package dev.ibex.it;

import org.junit.jupiter.api.extension.RegisterExtension;

/** {@link RandomHistories} over five masters. */
class RandomHistory5IT extends RandomHistories {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b", "c", "d", "e").withProxies();

    @Override
    Cluster cluster() {
        return CLUSTER;
    }

    @Override
    int defaultHistories() {
        return 3;
    }
}
