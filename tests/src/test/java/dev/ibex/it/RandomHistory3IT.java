package dev.ibex.it;

import org.junit.jupiter.api.extension.RegisterExtension;

/** {@link RandomHistories} over three masters. */
class RandomHistory3IT extends RandomHistories {
    @RegisterExtension
    static final Cluster CLUSTER = Cluster.of("a", "b", "c").withProxies();

    @Override
    Cluster cluster() {
        return CLUSTER;
    }

    @Override
    int defaultHistories() {
        return 4;
    }
}
