package dev.ibex.cli.bench;

import java.io.PrintWriter;

/** Progress lines while the bench runs, flushed at once so that a slow step shows where it is. */
final class Progress {
    private Progress() {
    }

    static void line(PrintWriter out, String message) {
        out.println("bench: " + message);
        out.flush();
    }
}
