package dev.ibex.engine.runtime;

/**
 * A message that may travel between engines: serialized by Pekko's Jackson serializer (CBOR),
 * never by Java serialization (the binding is in {@code ibex-cluster.conf}).
 */
public interface ClusterMessage {
}
