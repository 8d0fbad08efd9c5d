package dev.ibex.launch;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.testkit.Await;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code ibex start} from the shaded jar in its own JVM, as users run it, with its output (stdout
 * and stderr) in a log file: a test can wait for a line, SIGTERM it or SIGKILL it.
 */
public final class EngineProcess implements AutoCloseable {
    private final Process process;
    private final Path log;

    private EngineProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    /** Starts {@code ibex start} on the control database with the given {@code -D} system properties. */
    public static EngineProcess start(String controlUrl, String... systemProperties) {
        try {
            Path log = Files.createTempFile("ibex-start", ".log");
            List<String> cmd = new ArrayList<>(List.of(javaBin(), "-Xmx256m"));
            for (String p : systemProperties) {
                cmd.add("-D" + p);
            }
            cmd.addAll(List.of("-jar", shadedJar().toString(), "start"));
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
            pb.environment().put("IBEX_CONTROL", controlUrl);
            Process p = pb.start();
            p.getOutputStream().close();
            return new EngineProcess(p, log);
        } catch (IOException e) {
            throw new UncheckedIOException("starting ibex start", e);
        }
    }

    public String output() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Waits until the output contains {@code text}; fails early, with the output, if the process exits. */
    public void awaitOutput(String text, Duration timeout) {
        Await.until("ibex start prints '" + text + "'", timeout, () -> {
            if (output().contains(text)) {
                return true;
            }
            assertTrue(process.isAlive(), "ibex start exited (" + (process.isAlive() ? "" : process.exitValue())
                    + ") before printing '" + text + "':\n" + output());
            return false;
        });
    }

    /** SIGKILL (on Linux {@code destroyForcibly} is {@code kill -9}), and waits for the process to be gone. */
    public void kill() {
        process.destroyForcibly();
        waitFor(Duration.ofSeconds(30));
    }

    /** SIGTERM; returns at once. */
    public void terminate() {
        process.destroy();
    }

    /** Waits for the exit; false if the process still runs after {@code timeout}. */
    public boolean waitFor(Duration timeout) {
        try {
            return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public int exitValue() {
        return process.exitValue();
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            kill();
        }
        try {
            Files.deleteIfExists(log);
        } catch (IOException ignored) {
            // a temporary file
        }
    }

    private static String javaBin() {
        return ProcessHandle.current().info().command()
                .orElse(System.getProperty("java.home") + File.separator + "bin" + File.separator + "java");
    }

    static Path shadedJar() {
        Path jar = Path.of(System.getProperty("user.dir")).resolve("../cli/target/ibex.jar").normalize();
        assertTrue(Files.exists(jar), "the shaded CLI jar is built before the tests module: " + jar);
        return jar;
    }
}
