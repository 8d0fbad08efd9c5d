package dev.ibex.engine.db;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A statement written as readable SQL with named holes, rendered once per table shape. A hole is
 * {@code {name}} or {@code {name:arg,arg}} (for fragments that take table aliases, such as
 * {@code {match:l,t}}); the fragments come from a map built from the shape, and every user
 * identifier in them is quoted by {@link Idents}. A hole without a fragment is a programming error
 * and fails at once, so a typo never reaches a database.
 */
public final class SqlTemplate {
    private static final Pattern HOLE = Pattern.compile("\\{([a-z0-9_]+)(?::([A-Za-z0-9_,]+))?}");

    private SqlTemplate() {
    }

    /** A fragment of SQL, given the hole's arguments (none for {@code {name}}). */
    @FunctionalInterface
    public interface Fragment extends Function<List<String>, String> {
        static Fragment of(String text) {
            return args -> text;
        }
    }

    public static String render(String template, Map<String, Fragment> fragments) {
        Matcher m = HOLE.matcher(template);
        StringBuilder out = new StringBuilder(template.length() + 256);
        while (m.find()) {
            Fragment f = fragments.get(m.group(1));
            if (f == null) {
                throw new IllegalArgumentException("SQL template hole {" + m.group(1) + "} has no fragment in: " + template);
            }
            List<String> args = m.group(2) == null ? List.of() : Arrays.asList(m.group(2).split(","));
            m.appendReplacement(out, Matcher.quoteReplacement(f.apply(args)));
        }
        m.appendTail(out);
        return out.toString();
    }
}
