package dev.ibex.cli.bench;

import dev.ibex.engine.IbexException;
import java.io.File;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.CodeSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * {@code ibex start} engines, each in its own JVM ({@value #HEAP} heap) run from the jar or class
 * path the bench itself runs from, as users run them: one standalone, or several in a Pekko Cluster
 * on loopback. Each engine's output goes to a temporary file. {@link #close} always stops every
 * engine it started (SIGTERM, then SIGKILL after {@link #STOP_LIMIT}) and deletes the output files
 * of engines that exited on SIGTERM with no warning or error logged; it keeps and names the others.
 * Should the bench's JVM exit first (Ctrl-C), a shutdown hook sends SIGTERM to every engine still
 * running, so that none outlives the bench.
 */
final class EngineProcesses implements AutoCloseable {
    static final String HEAP = "256m";
    static final Duration START_LIMIT = Duration.ofMinutes(2);
    static final Duration STOP_LIMIT = Duration.ofSeconds(30);
    private static final String RUNNING = "ibex engine running";
    private static final int SIGTERM_EXIT = 143;
    private static final Pattern WARN_OR_ERROR = Pattern.compile("^\\S+ (WARN|ERROR) |Exception|^\\tat ");

    private final Map<String, Process> processes = new LinkedHashMap<>();
    private final Map<String, Path> logs = new LinkedHashMap<>();
    private final List<Process> started = new CopyOnWriteArrayList<>();
    private final Thread hook = new Thread(() -> started.forEach(Process::destroy), "ibex-bench-engines-stop");
    private final PrintWriter out;

    private EngineProcesses(PrintWriter out) {
        this.out = out;
        Runtime.getRuntime().addShutdownHook(hook);
    }

    /**
     * Starts {@code count} engines named {@code prefix-1..prefix-count} on the control database, one
     * after the other, each once the one before says it runs (so the first seed has formed the
     * cluster when the others join, and JVMs starting at once do not starve each other of CPU):
     * alone when {@code count} is 1, else in one cluster whose seeds are the first two engines.
     */
    static EngineProcesses start(PrintWriter out, String controlUrl, String prefix, int count) throws IOException {
        EngineProcesses e = new EngineProcesses(out);
        try {
            List<Integer> ports = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                ports.add(freePort());
            }
            String seeds = ports.stream().limit(2).map(p -> "127.0.0.1:" + p).collect(Collectors.joining(","));
            for (int i = 1; i <= count; i++) {
                List<String> args = new ArrayList<>(List.of("--engine-name", prefix + "-" + i));
                if (count > 1) {
                    args.addAll(List.of("--cluster-bind", "127.0.0.1:" + ports.get(i - 1), "--cluster-seeds", seeds));
                }
                e.launch(prefix + "-" + i, controlUrl, args);
                e.awaitRunning(prefix + "-" + i);
            }
            return e;
        } catch (IOException | RuntimeException ex) {
            e.close();
            throw ex;
        }
    }

    List<String> names() {
        return List.copyOf(processes.keySet());
    }

    /** Fails, naming the engine and showing the end of its output, if an engine has exited. */
    void requireAlive() {
        for (Map.Entry<String, Process> p : processes.entrySet()) {
            if (!p.getValue().isAlive()) {
                throw new IbexException("engine " + p.getKey() + " exited with " + p.getValue().exitValue() + "; its output ("
                        + logs.get(p.getKey()) + ") ends:\n" + tail(p.getKey(), 30));
            }
        }
    }

    /** The last lines of every engine's output, for a failure message. */
    String tails(int lines) {
        return processes.keySet().stream().map(n -> "--- engine " + n + " ---\n" + tail(n, lines)).collect(Collectors.joining("\n"));
    }

    private void launch(String name, String controlUrl, List<String> args) throws IOException {
        Path log = Files.createTempFile("ibex-bench-" + name + "-", ".log");
        logs.put(name, log);
        List<String> cmd = new ArrayList<>(List.of(javaBinary(), "-Xmx" + HEAP, "-cp", classPath(), "dev.ibex.cli.Main", "start"));
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("IBEX_CONTROL", controlUrl);
        Process p = pb.start();
        p.getOutputStream().close();
        processes.put(name, p);
        started.add(p);
    }

    private void awaitRunning(String name) {
        long deadline = System.nanoTime() + START_LIMIT.toNanos();
        while (!output(name).contains(RUNNING)) {
            requireAlive();
            if (System.nanoTime() > deadline) {
                throw new IbexException("engine " + name + " did not print '" + RUNNING + "' within " + START_LIMIT.toSeconds()
                        + " s; its output ends:\n" + tail(name, 30));
            }
            LockSupport.parkNanos(Duration.ofMillis(100).toNanos());
        }
    }

    /** SIGTERM to every engine, then waits; SIGKILL for any still running after {@link #STOP_LIMIT}. */
    @Override
    public void close() {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException alreadyExiting) {
            // the hook stops the engines
        }
        processes.values().forEach(Process::destroy);
        long deadline = System.nanoTime() + STOP_LIMIT.toNanos();
        for (Map.Entry<String, Process> e : processes.entrySet()) {
            Process p = e.getValue();
            boolean stopped = waitFor(p, deadline - System.nanoTime());
            if (!stopped) {
                p.destroyForcibly();
                waitFor(p, Duration.ofSeconds(10).toNanos());
            }
            report(e.getKey(), p, stopped);
        }
    }

    private void report(String name, Process p, boolean stopped) {
        Path log = logs.get(name);
        List<String> odd = output(name).lines().filter(l -> WARN_OR_ERROR.matcher(l).find()).toList();
        int exit = p.isAlive() ? -1 : p.exitValue();
        if (stopped && exit == SIGTERM_EXIT && odd.isEmpty()) {
            try {
                Files.deleteIfExists(log);
            } catch (IOException ignored) {
                // a temporary file
            }
            return;
        }
        Progress.line(out, "engine " + name + (stopped ? " exited with " + exit : " did not stop within "
                + STOP_LIMIT.toSeconds() + " s of SIGTERM and was killed") + "; " + odd.size()
                + " warning, error or stack trace line(s) in its output, kept in " + log
                + (odd.isEmpty() ? "" : "; the first: " + odd.get(0)));
    }

    private String output(String name) {
        try {
            return Files.readString(logs.get(name), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("reading the output of engine " + name, e);
        }
    }

    private String tail(String name, int n) {
        List<String> lines = output(name).lines().toList();
        return String.join("\n", lines.subList(Math.max(0, lines.size() - n), lines.size()));
    }

    private static boolean waitFor(Process p, long nanos) {
        try {
            return p.waitFor(Math.max(0, nanos), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static String javaBinary() {
        return ProcessHandle.current().info().command()
                .orElse(System.getProperty("java.home") + File.separator + "bin" + File.separator + "java");
    }

    /** The jar the bench runs from ({@code java -jar ibex.jar}), or its class path when it does not run from a jar. */
    private static String classPath() {
        CodeSource code = BenchCommand.class.getProtectionDomain().getCodeSource();
        try {
            Path source = code == null ? null : Path.of(code.getLocation().toURI());
            return source != null && Files.isRegularFile(source) ? source.toString() : System.getProperty("java.class.path");
        } catch (URISyntaxException | IllegalArgumentException e) {
            return System.getProperty("java.class.path");
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
