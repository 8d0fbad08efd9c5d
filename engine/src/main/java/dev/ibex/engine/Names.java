package dev.ibex.engine;

/** Validation of the names Ibex itself assigns (nodes, syncs): short, printable, unambiguous. */
public final class Names {
    private Names() {
    }

    public static void requireName(String what, String name) {
        if (name == null || !name.matches("[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")) {
            throw new UsageException("invalid " + what + " name '" + name
                    + "': use 1-63 letters, digits, '_', '-' or '.', not starting with '-' or '.'");
        }
    }
}
