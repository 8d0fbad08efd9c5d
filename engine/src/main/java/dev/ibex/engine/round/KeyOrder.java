package dev.ibex.engine.round;

import java.util.Comparator;
import java.util.List;

/**
 * The order in which keys are streamed and merged: column by column, comparing the text form by
 * Unicode code point, which is what PostgreSQL's {@code COLLATE "C"} does on a UTF-8 database.
 * Any total order works as long as the database and the merge agree; this one needs no collation
 * to match between nodes.
 */
public final class KeyOrder implements Comparator<List<String>> {
    public static final KeyOrder INSTANCE = new KeyOrder();

    private KeyOrder() {
    }

    @Override
    public int compare(List<String> a, List<String> b) {
        for (int i = 0; i < Math.min(a.size(), b.size()); i++) {
            int c = compareText(a.get(i), b.get(i));
            if (c != 0) {
                return c;
            }
        }
        return Integer.compare(a.size(), b.size());
    }

    static int compareText(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i);
            int cb = b.codePointAt(j);
            if (ca != cb) {
                return Integer.compare(ca, cb);
            }
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }
}
