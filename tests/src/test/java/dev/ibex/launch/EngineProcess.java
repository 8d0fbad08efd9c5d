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
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code ibex start} from the shaded jar in its own JVM with a fixed maximum heap, exiting on the
 * first {@link OutOfMemoryError} ({@code -XX:+ExitOnOutOfMemoryError}, exit code 3) and logging
 * every collection to a file, from which {@link #heap()} reads the peak heap used.
 */
final class EngineProcess implements AutoCloseable {
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

    /** Starts the engine on {@code control} with {@code -Xmx<maxHeap>} and waits until it says it runs. */
    static EngineProcess start(String control, String maxHeap) throws IOException {
        Path log = Files.createTempFile("ibex-engine", ".log");
        Path gcLog = Files.createTempFile("ibex-engine-gc", ".log");
        ProcessBuilder pb = new ProcessBuilder(javaBin(), "-Xmx" + maxHeap, "-XX:+ExitOnOutOfMemoryError",
                "-Xlog:gc:file=" + gcLog + ":uptime", "-jar", StartCommandIT.shadedJar().toString(), "start")
                .redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("IBEX_CONTROL", control);
        EngineProcess engine = new EngineProcess(pb.start(), log, gcLog, maxHeap);
        engine.process.getOutputStream().close();
        Await.until("engine prints that it runs", Duration.ofSeconds(60), () -> {
            assertTrue(engine.process.isAlive(), () -> "engine exited: " + engine.output());
            return engine.output().contains("ibex engine running");
        });
        return engine;
    }

    long pid() {
        return process.pid();
    }

    String maxHeap() {
        return maxHeap;
    }

    boolean isAlive() {
        return process.isAlive();
    }

    String output() {
        return read(log);
    }

    /** The peak heap so far, as the collections logged it (before and after each collection). */
    GcLog.Peak heap() {
        return GcLog.peak(read(gcLog));
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
    void assertAlive() {
        assertTrue(process.isAlive(), () -> "the engine is no longer running: it exited with " + exitOrNone() + ": " + output());
    }

    /** Stops the engine with SIGTERM and checks that it ran its shutdown hook (exit 143), not an exit on OOM. */
    void stop() throws InterruptedException {
        assertAlive();
        process.destroy();
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "engine stopped within 60 s of SIGTERM");
        assertEquals(143, process.exitValue(), () -> "engine terminated by SIGTERM: " + output());
    }

    private String exitOrNone() {
        return process.isAlive() ? "(running)" : Integer.toString(process.exitValue());
    }

    /** Kills the engine if it still runs, and deletes its logs. */
    @Override
    public void close() throws IOException {
        process.destroyForcibly();
        Files.deleteIfExists(log);
        Files.deleteIfExists(gcLog);
    }

    private static String read(Path p) {
        try {
            return Files.readString(p, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String javaBin() {
        return ProcessHandle.current().info().command()
                .orElse(System.getProperty("java.home") + File.separator + "bin" + File.separator + "java");
    }
}
