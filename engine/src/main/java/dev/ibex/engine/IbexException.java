package dev.ibex.engine;

/**
 * The root of Ibex's unchecked exceptions: an operation failed (exit code 1). Messages name the
 * sync, node, table and key range involved, and never contain credentials.
 */
public class IbexException extends RuntimeException {
    public IbexException(String message) {
        super(message);
    }

    public IbexException(String message, Throwable cause) {
        super(message, cause);
    }
}
