package dev.ibex.cliit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@code ibex demo}, the embedded default: three embedded masters written concurrently with
 * conflicts must converge, and the demo must show status and the conflict journal.
 */
class DemoIT {
    private static final Pattern JOURNAL = Pattern.compile("(?m)^conflict journal: (\\d+) conflicts recorded");

    @Test
    void demoConvergesAndShowsTheConflictJournal() {
        IbexCli.Result r = IbexCli.run("demo", "--seconds", "3");
        assertEquals(0, r.code(), () -> "the demo exits 0 when the masters converged: " + r);
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("CONVERGED: ")), () -> "convergence is reported: " + r);
        assertFalse(r.out().contains("NOT CONVERGED"), r::toString);
        assertTrue(r.out().contains("sync shop: "), () -> "the status of the sync is shown: " + r);
        Matcher journal = JOURNAL.matcher(r.out());
        assertTrue(journal.find(), () -> "the conflict journal is shown: " + r);
        assertTrue(Long.parseLong(journal.group(1)) > 0,
                () -> "three writers updating the same hot rows for 3 s produce conflicts: " + r);
        assertEquals("", r.err(), () -> "nothing on standard error: " + r);
    }
}
