package dev.ibex.engine.runtime;

import dev.ibex.engine.IbexException;
import dev.ibex.engine.db.Redactor;
import java.util.concurrent.CompletionException;

/**
 * What the engine logs about a failed round or configuration read: one line, the message of
 * Ibex's own exception (which names the node or the control database and the reason) rather than
 * the chain of wrappers around it, credentials removed.
 */
final class FailureText {
    private FailureText() {
    }

    static String of(Throwable t) {
        Throwable e = t;
        while (e instanceof CompletionException && e.getCause() != null) {
            e = e.getCause();
        }
        String text = e instanceof IbexException ? e.getMessage() : e.toString();
        return Redactor.text(String.valueOf(text).replaceAll("\\s*\\R\\s*", " ").trim());
    }
}
