package dev.ibex.engine.config;

import dev.ibex.conflict.ConflictResolver;
import dev.ibex.conflict.LatestResolver;
import dev.ibex.conflict.ManualResolver;
import dev.ibex.conflict.SourcePriorityResolver;
import dev.ibex.engine.UsageException;
import java.lang.reflect.InvocationTargetException;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Names of conflict strategies and the resolvers behind them: {@code latest}, {@code priority},
 * {@code manual}, {@code custom:CLASS} and {@code custom:CLASS:ARGUMENT} (the argument goes to the
 * class's one-{@code String} constructor).
 */
public final class Strategies {
    public static final String CUSTOM_PREFIX = "custom:";
    public static final String HELP = "latest, priority, manual or custom:CLASS[:ARGUMENT]";

    /** The kinds of strategy; a {@code custom:} strategy names its class and argument besides. */
    public enum Kind {
        LATEST, PRIORITY, MANUAL, CUSTOM;

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private Strategies() {
    }

    /** The kind of a strategy name; {@code null} for a name that is none. */
    public static Kind kind(String strategy) {
        if (strategy == null) {
            return null;
        }
        if (strategy.startsWith(CUSTOM_PREFIX)) {
            return strategy.length() > CUSTOM_PREFIX.length() ? Kind.CUSTOM : null;
        }
        return Arrays.stream(Kind.values()).filter(k -> k != Kind.CUSTOM && k.label().equals(strategy)).findFirst().orElse(null);
    }

    /** Refuses an unknown strategy or a custom class that cannot be built; returns it unchanged. */
    public static String validate(String strategy) {
        Kind kind = kind(strategy);
        if (kind == null) {
            throw new UsageException("unknown strategy '" + strategy + "': use " + HELP);
        }
        if (kind == Kind.CUSTOM) {
            custom(strategy);
        }
        return strategy;
    }

    /**
     * The resolver for a strategy. {@code manual} needs the operator's choices, which the round
     * supplies; any other strategy ignores them.
     */
    public static ConflictResolver resolver(String strategy, List<String> priority, ManualResolver manual) {
        Kind kind = kind(strategy);
        if (kind == null) {
            throw new UsageException("unknown strategy '" + strategy + "': use " + HELP);
        }
        return switch (kind) {
            case LATEST -> new LatestResolver();
            case PRIORITY -> new SourcePriorityResolver(priority);
            case MANUAL -> manual;
            case CUSTOM -> custom(strategy);
        };
    }

    /** True when the strategy's resolver reads row bases, so capture must record them. */
    public static boolean needsBase(String strategy) {
        return kind(strategy) == Kind.CUSTOM && custom(strategy).needsBase();
    }

    private static ConflictResolver custom(String strategy) {
        String spec = strategy.substring(CUSTOM_PREFIX.length());
        int colon = spec.indexOf(':');
        String cls = colon < 0 ? spec : spec.substring(0, colon);
        String arg = colon < 0 ? null : spec.substring(colon + 1);
        Class<?> c;
        try {
            c = Class.forName(cls);
        } catch (ClassNotFoundException e) {
            throw new UsageException("strategy " + strategy + ": class " + cls + " is not on the classpath", e);
        }
        if (!ConflictResolver.class.isAssignableFrom(c)) {
            throw new UsageException("strategy " + strategy + ": " + cls + " does not implement " + ConflictResolver.class.getName());
        }
        try {
            Object r = arg == null ? c.getConstructor().newInstance() : c.getConstructor(String.class).newInstance(arg);
            return (ConflictResolver) r;
        } catch (NoSuchMethodException e) {
            throw new UsageException("strategy " + strategy + ": " + cls + " needs a public constructor taking "
                    + (arg == null ? "no arguments" : "one String (the part after the second ':')"), e);
        } catch (InvocationTargetException e) {
            throw new UsageException("strategy " + strategy + ": " + cls + " refused its argument: " + e.getCause().getMessage(), e);
        } catch (ReflectiveOperationException e) {
            throw new UsageException("strategy " + strategy + ": cannot instantiate " + cls + ": " + e, e);
        }
    }
}
