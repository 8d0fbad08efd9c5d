package dev.ibex.engine.config;

import dev.ibex.conflict.ConflictResolver;
import dev.ibex.conflict.LatestResolver;
import dev.ibex.conflict.ManualResolver;
import dev.ibex.conflict.SourcePriorityResolver;
import dev.ibex.engine.UsageException;
import java.lang.reflect.InvocationTargetException;
import java.util.List;

/**
 * Names of conflict strategies and the resolvers behind them: {@code latest}, {@code priority},
 * {@code manual}, {@code custom:CLASS} and {@code custom:CLASS:ARGUMENT} (the argument goes to the
 * class's one-{@code String} constructor).
 */
public final class Strategies {
    public static final String LATEST = "latest";
    public static final String PRIORITY = "priority";
    public static final String MANUAL = "manual";
    public static final String CUSTOM_PREFIX = "custom:";
    public static final String HELP = "latest, priority, manual or custom:CLASS[:ARGUMENT]";

    private Strategies() {
    }

    /** Refuses an unknown strategy or a custom class that cannot be built; returns it unchanged. */
    public static String validate(String strategy) {
        if (LATEST.equals(strategy) || PRIORITY.equals(strategy) || MANUAL.equals(strategy)) {
            return strategy;
        }
        if (strategy != null && strategy.startsWith(CUSTOM_PREFIX) && strategy.length() > CUSTOM_PREFIX.length()) {
            custom(strategy);
            return strategy;
        }
        throw new UsageException("unknown strategy '" + strategy + "': use " + HELP);
    }

    /**
     * The resolver for a strategy. {@code manual} needs the operator's choices, which the round
     * supplies; any other strategy ignores them.
     */
    public static ConflictResolver resolver(String strategy, List<String> priority, ManualResolver manual) {
        if (LATEST.equals(strategy)) {
            return new LatestResolver();
        }
        if (PRIORITY.equals(strategy)) {
            return new SourcePriorityResolver(priority);
        }
        if (MANUAL.equals(strategy)) {
            return manual;
        }
        return custom(strategy);
    }

    /** True when the strategy's resolver reads row bases, so capture must record them. */
    public static boolean needsBase(String strategy) {
        return strategy != null && strategy.startsWith(CUSTOM_PREFIX) && custom(strategy).needsBase();
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
