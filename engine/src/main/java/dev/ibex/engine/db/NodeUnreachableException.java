package dev.ibex.engine.db;

import dev.ibex.engine.IbexException;

/** A node (or the control database) could not be reached: refused, timed out, shut down. */
public class NodeUnreachableException extends IbexException {
    public NodeUnreachableException(String message, Throwable cause) {
        super(message, cause);
    }
}
