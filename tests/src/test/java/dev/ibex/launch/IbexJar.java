package dev.ibex.launch;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs the shaded CLI jar ({@code cli/target/ibex.jar}) as users do: in its own JVM, with its own
 * environment and working directory, standard output and error captured apart. The environment is
 * the test JVM's without any {@code IBEX_} or {@code PG} variable, plus what the caller gives.
 */
final class IbexJar {
    private static final long COMMAND_TIMEOUT_SECONDS = 120;

    private final Map<String, String> env;
    private final Path dir;

    IbexJar(Map<String, String> env, Path dir) {
        this.env = Map.copyOf(env);
        this.dir = dir;
    }

    /** What one command did. */
    record Result(List<String> args, int code, String out, String err) {
        @Override
        public String toString() {
            return "ibex " + String.join(" ", args) + " -> exit " + code + "\n--- out ---\n" + out + "--- err ---\n" + err + "---";
        }
    }

    /** Runs one command to its end. */
    Result run(String... args) {
        try {
            Path out = Files.createTempFile(dir, "out-", ".txt");
            Path err = Files.createTempFile(dir, "err-", ".txt");
            Process p = builder(args).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            p.getOutputStream().close();
            if (!p.waitFor(COMMAND_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("ibex " + String.join(" ", args) + " did not end within " + COMMAND_TIMEOUT_SECONDS + " s");
            }
            return new Result(List.of(args), p.exitValue(), read(out), read(err));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Starts a long-running command (e.g. {@code start}) with standard output and error going to {@code log}. */
    Process start(Path log, String... args) {
        try {
            Process p = builder(args).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            p.getOutputStream().close();
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private ProcessBuilder builder(String... args) {
        List<String> command = new ArrayList<>(List.of(javaBin(), "-Xmx256m", "-XX:TieredStopAtLevel=1", "-jar",
                EngineProcess.shadedJar().toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile());
        pb.environment().keySet().removeIf(k -> k.startsWith("IBEX_") || k.startsWith("PG"));
        pb.environment().putAll(env);
        return pb;
    }

    static String read(Path p) {
        try {
            return Files.readString(p, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String javaBin() {
        return ProcessHandle.current().info().command()
                .orElse(System.getProperty("java.home") + File.separator + "bin" + File.separator + "java");
    }
}
