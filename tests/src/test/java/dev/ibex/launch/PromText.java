package dev.ibex.launch;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4), for tests that read
 * what an engine serves at {@code /metrics}: every sample must belong to a family declared by a
 * {@code # TYPE} line before it (a histogram's {@code _bucket}, {@code _sum} and {@code _count}
 * belong to the histogram); a malformed line fails with its number.
 */
final class PromText {
    record Sample(String name, Map<String, String> labels, double value) {
    }

    record Family(String name, String type, List<Sample> samples) {
        /** The samples whose labels include every given name and value (pairs). */
        List<Sample> with(String... pairs) {
            return samples.stream().filter(s -> {
                for (int i = 0; i < pairs.length; i += 2) {
                    if (!pairs[i + 1].equals(s.labels().get(pairs[i]))) {
                        return false;
                    }
                }
                return true;
            }).toList();
        }

        /** The value of the one sample named {@code sample} with these labels; fails when there is not exactly one. */
        double sample(String sample, String... pairs) {
            List<Sample> found = with(pairs).stream().filter(s -> s.name().equals(sample)).toList();
            if (found.size() != 1) {
                throw new AssertionError(found.size() + " samples " + sample + " with " + List.of(pairs) + " in " + samples);
            }
            return found.get(0).value();
        }

        /** The value of the gauge or counter with these labels. */
        double value(String... pairs) {
            return sample(name.endsWith("_total") || !"counter".equals(type) ? name : name + "_total", pairs);
        }
    }

    private static final List<String> SUFFIXES = List.of("_bucket", "_sum", "_count", "_created", "_total", "_info");

    private PromText() {
    }

    static Map<String, Family> parse(String text) {
        Map<String, Family> families = new LinkedHashMap<>();
        int number = 0;
        for (String line : text.split("\n", -1)) {
            number++;
            if (line.isBlank() || line.startsWith("# HELP ") || (line.startsWith("#") && !line.startsWith("# TYPE "))) {
                continue;
            }
            try {
                if (line.startsWith("# TYPE ")) {
                    String[] parts = line.substring(7).split(" ");
                    if (parts.length != 2 || !validName(parts[0])) {
                        throw new IllegalArgumentException("bad TYPE line");
                    }
                    families.put(parts[0], new Family(parts[0], parts[1], new ArrayList<>()));
                    continue;
                }
                Sample s = sample(line);
                familyOf(families, s.name()).samples().add(s);
            } catch (RuntimeException e) {
                throw new AssertionError("line " + number + " of /metrics: " + e.getMessage() + ": " + line, e);
            }
        }
        return families;
    }

    /** The family a sample or series name belongs to (a histogram's _bucket to the histogram...); null when none. */
    static Family familyOf(Map<String, Family> families, String name) {
        if (families.containsKey(name)) {
            return families.get(name);
        }
        for (String suffix : SUFFIXES) {
            if (name.endsWith(suffix) && families.containsKey(name.substring(0, name.length() - suffix.length()))) {
                return families.get(name.substring(0, name.length() - suffix.length()));
            }
        }
        throw new IllegalArgumentException("sample " + name + " has no # TYPE line before it");
    }

    private static Sample sample(String line) {
        int i = 0;
        while (i < line.length() && line.charAt(i) != '{' && line.charAt(i) != ' ') {
            i++;
        }
        String name = line.substring(0, i);
        if (!validName(name)) {
            throw new IllegalArgumentException("bad metric name '" + name + "'");
        }
        Map<String, String> labels = new LinkedHashMap<>();
        if (i < line.length() && line.charAt(i) == '{') {
            i = labels(line, i + 1, labels);
        }
        if (i >= line.length() || line.charAt(i) != ' ') {
            throw new IllegalArgumentException("no value");
        }
        String[] rest = line.substring(i + 1).trim().split(" ");
        if (rest.length > 2) {
            throw new IllegalArgumentException("more than a value and a timestamp");
        }
        return new Sample(name, labels, value(rest[0]));
    }

    /** Reads {@code name="value",...}} from {@code i}; returns the index after the closing brace. */
    private static int labels(String line, int i, Map<String, String> labels) {
        while (true) {
            if (line.charAt(i) == '}') {
                return i + 1;
            }
            int eq = line.indexOf('=', i);
            String label = line.substring(i, eq);
            if (!validName(label) || line.charAt(eq + 1) != '"') {
                throw new IllegalArgumentException("bad label at " + i);
            }
            StringBuilder v = new StringBuilder();
            int j = eq + 2;
            while (line.charAt(j) != '"') {
                char c = line.charAt(j);
                if (c == '\\') {
                    char e = line.charAt(++j);
                    v.append(e == 'n' ? '\n' : e);
                } else {
                    v.append(c);
                }
                j++;
            }
            if (labels.put(label, v.toString()) != null) {
                throw new IllegalArgumentException("label " + label + " twice");
            }
            i = j + 1;
            if (line.charAt(i) == ',') {
                i++;
            }
        }
    }

    private static double value(String text) {
        return switch (text) {
            case "+Inf" -> Double.POSITIVE_INFINITY;
            case "-Inf" -> Double.NEGATIVE_INFINITY;
            case "NaN" -> Double.NaN;
            default -> Double.parseDouble(text);
        };
    }

    private static boolean validName(String name) {
        return name.matches("[a-zA-Z_:][a-zA-Z0-9_:]*");
    }
}
