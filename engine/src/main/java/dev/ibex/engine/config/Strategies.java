package dev.ibex.engine.config;

import dev.ibex.conflict.ConflictResolver;
import dev.ibex.conflict.LatestResolver;
import dev.ibex.conflict.SourcePriorityResolver;
import dev.ibex.engine.UsageException;
import java.util.List;

/** Names of conflict strategies and the resolvers behind them. */
public final class Strategies {
    public static final String LATEST = "latest";
    public static final String PRIORITY = "priority";
    public static final String CUSTOM_PREFIX = "custom:";

    private Strategies() {
    }

    public static void validate(String strategy) {
        if (LATEST.equals(strategy) || PRIORITY.equals(strategy)) {
            return;
        }
        if (strategy != null && strategy.startsWith(CUSTOM_PREFIX) && strategy.length() > CUSTOM_PREFIX.length()) {
            customClass(strategy);
            return;
        }
        throw new UsageException("unknown strategy '" + strategy + "': use latest, priority or custom:CLASS");
    }

    public static ConflictResolver resolver(String strategy, List<String> priority) {
        if (LATEST.equals(strategy)) {
            return new LatestResolver();
        }
        if (PRIORITY.equals(strategy)) {
            return new SourcePriorityResolver(priority);
        }
        try {
            return (ConflictResolver) customClass(strategy).getDeclaredConstructor().newInstance();
        } catch (ReflectiveOperationException e) {
            throw new UsageException("strategy " + strategy + ": cannot instantiate: " + e, e);
        }
    }

    private static Class<?> customClass(String strategy) {
        String cls = strategy.substring(CUSTOM_PREFIX.length());
        try {
            Class<?> c = Class.forName(cls);
            if (!ConflictResolver.class.isAssignableFrom(c)) {
                throw new UsageException("strategy " + strategy + ": " + cls + " does not implement "
                        + ConflictResolver.class.getName());
            }
            return c;
        } catch (ClassNotFoundException e) {
            throw new UsageException("strategy " + strategy + ": class " + cls + " is not on the classpath", e);
        }
    }
}
