package dev.ibex.cliit;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.joran.JoranConfigurator;
import ch.qos.logback.core.joran.spi.JoranException;
import dev.ibex.cli.Main;
import java.net.URL;
import org.slf4j.LoggerFactory;

/**
 * Switches logback between the test configuration and the one the {@code ibex} launcher ships
 * (cli's {@code logback.xml}), so that tests see on standard error exactly what a user would:
 * in a test JVM logback would otherwise pick {@code logback-test.xml}.
 */
final class CliLogging {
    private CliLogging() {
    }

    /** Configures logging as the shipped CLI does. */
    static void useShippedConfiguration() {
        URL shipped = Main.class.getResource("/logback.xml");
        assertNotNull(shipped, "the CLI's logback.xml is on the test classpath");
        assertTrue(shipped.toString().contains("cli") || shipped.toString().contains("ibex"),
                "logback.xml comes from the CLI module, not from another jar: " + shipped);
        configure(shipped);
    }

    /** Goes back to the tests' logback-test.xml. */
    static void useTestConfiguration() {
        configure(CliLogging.class.getResource("/logback-test.xml"));
    }

    private static void configure(URL config) {
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        context.reset();
        JoranConfigurator configurator = new JoranConfigurator();
        configurator.setContext(context);
        try {
            configurator.doConfigure(config);
        } catch (JoranException e) {
            throw new IllegalStateException("cannot configure logback from " + config, e);
        }
    }
}
