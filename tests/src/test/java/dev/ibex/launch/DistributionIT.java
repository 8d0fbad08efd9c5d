package dev.ibex.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The distribution that {@code mvn package} builds ({@code cli/target/ibex-VERSION.tar.gz}),
 * unpacked as an operator would: its layout, its launcher running the demo (which starts its own
 * embedded PostgreSQL servers) to convergence, systemd units that take credentials from an
 * environment file only, and a completion script bash accepts.
 */
class DistributionIT {
    private static final long TIMEOUT_SECONDS = 180;

    @TempDir
    static Path unpacked;
    private static Path home;

    @BeforeAll
    static void unpack() {
        Path tarball = tarball();
        Result r = run(unpacked, List.of("tar", "-xzf", tarball.toString(), "-C", unpacked.toString()));
        assertEquals(0, r.code(), () -> "unpacking " + tarball + ": " + r);
        String name = tarball.getFileName().toString().replaceFirst("\\.tar\\.gz$", "");
        home = unpacked.resolve(name);
        assertTrue(Files.isDirectory(home), () -> "the tarball unpacks into one directory named " + name + ": " + list(unpacked));
    }

    @Test
    void layout() {
        assertTrue(Files.isExecutable(home.resolve("bin/ibex")), "bin/ibex is executable");
        assertTrue(Files.isRegularFile(home.resolve("lib/ibex.jar")), "lib/ibex.jar is there");
        for (String f : List.of("etc/ibex.env.example", "etc/ibex-cluster.conf.example", "etc/engine-1.env.example",
                "etc/engine-2.env.example", "etc/engine-3.env.example", "systemd/ibex.service", "systemd/ibex@.service",
                "share/bash-completion/completions/ibex", "docs/operations.md", "docs/metrics.md", "docs/grafana/ibex-dashboard.json", "README.md")) {
            assertTrue(Files.isRegularFile(home.resolve(f)), () -> f + " is in the distribution: " + list(home));
        }
        String env = read(home.resolve("etc/ibex.env.example"));
        assertTrue(env.contains("IBEX_CONTROL=jdbc:postgresql:"), env);
        assertTrue(env.contains("IBEX_CONTROL_PASSWORD="), env);
    }

    @Test
    void systemdUnitsRunAsIbexWithCredentialsFromAnEnvironmentFile() {
        for (String unit : List.of("ibex.service", "ibex@.service")) {
            String text = read(home.resolve("systemd").resolve(unit));
            assertTrue(text.contains("\nUser=ibex\n"), () -> unit + " runs as user ibex: " + text);
            assertTrue(text.contains("\nEnvironmentFile=/etc/ibex/ibex.env\n"), () -> unit + " reads /etc/ibex/ibex.env: " + text);
            assertTrue(text.contains("\nNoNewPrivileges=yes\n") && text.contains("\nProtectSystem=strict\n"),
                    () -> unit + " is hardened: " + text);
            String exec = text.substring(text.indexOf("\nExecStart=") + 1);
            exec = exec.substring(0, exec.indexOf("\n#") < 0 ? exec.length() : exec.indexOf("\n#"));
            assertTrue(exec.startsWith("ExecStart=/opt/ibex/bin/ibex start "), () -> unit + ": " + text);
            assertFalse(exec.toLowerCase().contains("password="), () -> unit + " puts no password on the command line: " + text);
            assertTrue(exec.contains("--control-password-env IBEX_CONTROL_PASSWORD"), () -> unit + ": " + text);
        }
        String template = read(home.resolve("systemd/ibex@.service"));
        assertTrue(template.contains("EnvironmentFile=/etc/ibex/engine-%i.env"), template);
        assertTrue(template.contains("--cluster-bind ${IBEX_CLUSTER_BIND}") && template.contains("--cluster-seeds ${IBEX_CLUSTER_SEEDS}"),
                template);
    }

    @Test
    void completionScriptIsValidBashAndKnowsTheCommands() {
        Path script = home.resolve("share/bash-completion/completions/ibex");
        Result r = run(home, List.of("bash", "-n", script.toString()));
        assertEquals(0, r.code(), () -> "bash -n accepts the completion script: " + r);
        String text = read(script);
        for (String word : List.of("complete -F", "status", "conflicts", "--control", "--control-password-env", "--initial-copy-from")) {
            assertTrue(text.contains(word), () -> "the completion script knows " + word);
        }
        // demo starts servers of its own and takes no control-database options: none offered after it
        String demo = text.substring(text.indexOf("function _picocli_ibex_demo()"));
        demo = demo.substring(0, demo.indexOf("\n}\n"));
        assertTrue(demo.contains("--seconds") && !demo.contains("--control"), () -> "demo's completion offers its own options only: " + r);
    }

    @Test
    void launcherPrintsTheVersion() {
        Result r = ibex("--version");
        assertEquals(0, r.code(), r::toString);
        assertEquals("ibex 0.1.0", r.out().strip(), r::toString);
    }

    @Test
    void launcherRunsTheDemoToConvergence() {
        Result r = ibex("demo", "--seconds", "2");
        assertEquals(0, r.code(), () -> "the demo exits 0 when the masters converged: " + r);
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("CONVERGED: ")), () -> "convergence is reported: " + r);
    }

    @Test
    void badUsageIsOneLine() {
        Result r = ibex("status", "--control");
        assertEquals(2, r.code(), r::toString);
        List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), r::toString);
        assertTrue(lines.get(0).startsWith("ibex: ") && lines.get(0).contains("--control"), r::toString);
    }

    /** bin/ibex with this JVM's Java (JAVA_HOME), no IBEX_ or PG variables of the test's environment. */
    private Result ibex(String... args) {
        List<String> command = new ArrayList<>(List.of(home.resolve("bin/ibex").toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).directory(unpacked.toFile());
        pb.environment().keySet().removeIf(k -> k.startsWith("IBEX_") || k.startsWith("PG"));
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        pb.environment().put("IBEX_JAVA_OPTS", "-Xmx256m -XX:TieredStopAtLevel=1");
        return run(pb, command);
    }

    private static Result run(Path dir, List<String> command) {
        return run(new ProcessBuilder(command).directory(dir.toFile()), command);
    }

    private static Result run(ProcessBuilder pb, List<String> command) {
        try {
            Path out = Files.createTempFile("dist-out-", ".txt");
            Path err = Files.createTempFile("dist-err-", ".txt");
            try {
                Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
                p.getOutputStream().close();
                if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    throw new AssertionError(String.join(" ", command) + " did not end within " + TIMEOUT_SECONDS + " s");
                }
                return new Result(command, p.exitValue(), read(out), read(err));
            } finally {
                Files.deleteIfExists(out);
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    record Result(List<String> command, int code, String out, String err) {
        @Override
        public String toString() {
            return String.join(" ", command) + " -> exit " + code + "\n--- out ---\n" + out + "--- err ---\n" + err + "---";
        }
    }

    /** The tarball the cli module built, beside the shaded jar the other launch tests run. */
    private static Path tarball() {
        Path target = EngineProcess.shadedJar().getParent();
        try (Stream<Path> files = Files.list(target)) {
            List<Path> found = files.filter(f -> f.getFileName().toString().matches("ibex-.+\\.tar\\.gz")).toList();
            assertEquals(1, found.size(), () -> "one distribution tarball in " + target + ", built by the cli module's package: " + found);
            return found.get(0);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String list(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.map(dir::relativize).map(Path::toString).sorted().toList().toString();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String read(Path p) {
        return IbexJar.read(p);
    }
}
