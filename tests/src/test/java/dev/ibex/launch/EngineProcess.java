package dev.ibex.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
 * and stderr) in a log file: a test can wait for a line, SIGTERM it or SIGKILL it. Started with
 * {@link #startWithHeap}, it has a fixed maximum heap, exits on the first {@link OutOfMemoryError}
 * ({@code -XX:+ExitOnOutOfMemoryError}, exit code 3) and logs every collection to a file, from
 * which {@link #heap()} reads the peak heap used.
 */
public final class EngineProcess implements AutoCloseable {
    private final Process process;
    private final Path log;
    private final Path gcLog;
    private final String maxHeap;

    private EngineProcess(Process process, Path log, Path gcLog, String maxHeap) {
        this.process = process;
        this.log = log;
        this.gcLog = gcLog;
        this.maxHeap = maxHeap;
    }

    /** Starts {@code ibex start} on the control database (-Xmx256m) with the given {@code -D} system properties. */
    public static EngineProcess start(String controlUrl, String... systemProperties) {
        return launch(controlUrl, "256m", null, List.of(), systemProperties);
    }

    /** Starts {@code ibex start ARGS} on the control database (-Xmx256m) with the given {@code -D} system properties. */
    public static EngineProcess start(String controlUrl, List<String> args, String... systemProperties) {
        return launch(controlUrl, "256m", null, args, systemProperties);
    }

    /**
     * Starts the engine on {@code control} with {@code -Xmx<maxHeap>}, exiting on the first out of
     * memory error and logging collections, and waits until it says it runs.
     */
    static EngineProcess startWithHeap(String control, String maxHeap) {
        try {
            // the JVM keeps a log file it finds at start as "<name>.0": hand it a name that does not exist yet
            Path gcLog = Files.createTempFile("ibex-engine-gc", ".log");
            Files.delete(gcLog);
            EngineProcess engine = launch(control, maxHeap, gcLog, List.of());
            engine.awaitOutput("ibex engine running", Duration.ofSeconds(60));
            return engine;
        } catch (IOException e) {
            throw new UncheckedIOException("starting ibex start", e);
        }
    }

    private static EngineProcess launch(String controlUrl, String maxHeap, Path gcLog, List<String> args, String... systemProperties) {
        try {
            Path log = Files.createTempFile("ibex-start", ".log");
            List<String> cmd = new ArrayList<>(List.of(javaBin(), "-Xmx" + maxHeap));
            if (gcLog != null) {
                cmd.addAll(List.of("-XX:+ExitOnOutOfMemoryError", "-Xlog:gc:file=" + gcLog + ":uptime"));
            }
            for (String p : systemProperties) {
                cmd.add("-D" + p);
            }
            cmd.addAll(List.of("-jar", shadedJar().toString(), "start"));
            cmd.addAll(args);
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
            pb.environment().put("IBEX_CONTROL", controlUrl);
            Process p = pb.start();
            p.getOutputStream().close();
            return new EngineProcess(p, log, gcLog, maxHeap);
        } catch (IOException e) {
            throw new UncheckedIOException("starting ibex start", e);
        }
    }

    long pid() {
        return process.pid();
    }

    String maxHeap() {
        return maxHeap;
    }

    /** The peak heap so far, as the collections logged it (before and after each collection); only after {@link #startWithHeap}. */
    GcLog.Peak heap() {
        try {
            return GcLog.peak(Files.readString(gcLog, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The classes taking most heap, from {@code jcmd <pid> GC.class_histogram} (which collects
     * first, so the total is the live heap): the header, the first {@code top} classes and the total.
     */
    String histogram(int top) throws IOException, InterruptedException {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        Process p = new ProcessBuilder(Files.isExecutable(jcmd) ? jcmd.toString() : "jcmd", Long.toString(pid()), "GC.class_histogram")
                .redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "jcmd finished");
        List<String> lines = out.lines().toList();
        int header = 0;
        while (header < lines.size() && !lines.get(header).contains("num ")) {
            header++;
        }
        StringBuilder b = new StringBuilder();
        lines.stream().skip(header).limit(top + 2L).forEach(l -> b.append(l).append('\n'));
        lines.stream().filter(l -> l.startsWith("Total")).forEach(l -> b.append(l).append('\n'));
        return b.toString();
    }

    /** Fails, with the engine's exit code (3: out of memory) and output, if the engine has exited. */
    public void assertAlive() {
        assertTrue(process.isAlive(), () -> "the engine is no longer running: it exited with "
                + (process.isAlive() ? "(running)" : Integer.toString(process.exitValue())) + ": " + output());
    }

    /** Stops the engine with SIGTERM and checks that it ran its shutdown hook (exit 143), not an exit on OOM. */
    void stop() {
        assertAlive();
        terminate();
        assertTrue(waitFor(Duration.ofSeconds(60)), "engine stopped within 60 s of SIGTERM");
        assertEquals(143, process.exitValue(), () -> "engine terminated by SIGTERM: " + output());
    }

    public String output() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The last {@code n} lines of the output. */
    public String outputTail(int n) {
        List<String> lines = output().lines().toList();
        return String.join("\n", lines.subList(Math.max(0, lines.size() - n), lines.size()));
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

    /** SIGSTOP: the process stops dead (its sockets stay open), as under a long pause of the OS or a collector. */
    public void suspend() {
        signal("STOP");
    }

    /** SIGCONT after {@link #suspend}. */
    public void resume() {
        signal("CONT");
    }

    private void signal(String name) {
        try {
            Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).inheritIO().start();
            assertEquals(0, kill.waitFor(), "kill -" + name + " " + process.pid());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
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
            if (gcLog != null) {
                Files.deleteIfExists(gcLog);
            }
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
