package dev.ibex.engine;

/**
 * Bad usage or configuration (exit code 2): the message names the bad value and how to fix it.
 * Thrown before anything is changed.
 */
public class UsageException extends IbexException {
    public UsageException(String message) {
        super(message);
    }

    public UsageException(String message, Throwable cause) {
        super(message, cause);
    }
}
