package dev.ibex.cliit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Pattern;
import picocli.CommandLine;

/**
 * Runs the {@code ibex} command line in-process and captures everything it prints.
 *
 * <p>{@link #run} builds the command line exactly as {@code dev.ibex.cli.Main.run} does (through
 * the package-private {@code Cli.commandLine()}), but points picocli's out and err writers at
 * buffers, so a background engine's logging cannot mix into a command's output. Whatever reaches
 * {@code System.out} or {@code System.err} during the call (logging, progress bars, stray stack
 * traces) is captured separately as "stray" output and echoed afterwards so that it is not lost.
 * Calls are serialized because {@code System.setOut} is global.
 */
final class IbexCli {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern STACK_TRACE =
            Pattern.compile("(?m)^\\s*at [\\w$.]+\\(|^Caused by: |Exception in thread|^[\\w$.]+(Exception|Error): ");

    private IbexCli() {
    }

    /** What one command did: its exit code, picocli's out and err, and stray System.out/err output. */
    record Result(List<String> args, int code, String out, String err, String strayOut, String strayErr) {
        /** Everything the user would see on standard output. */
        String stdout() {
            return out + strayOut;
        }

        /** Everything the user would see on standard error. */
        String stderr() {
            return err + strayErr;
        }

        List<String> stderrLines() {
            return stderr().lines().filter(l -> !l.isBlank()).toList();
        }

        String everything() {
            return out + err + strayOut + strayErr;
        }

        boolean hasStackTrace() {
            return STACK_TRACE.matcher(everything()).find();
        }

        /** Parses standard output as JSON, after checking that the command succeeded. */
        JsonNode json() {
            assertEquals(0, code, () -> "command failed: " + this);
            return parseJson(out);
        }

        /**
         * Checks that the command was refused as bad input: exit 2, nothing on standard output, one
         * line on standard error that starts with "ibex: " and names {@code naming}, no stack trace.
         */
        Result requireRefused(String naming) {
            assertEquals(2, code, () -> "exit code 2 for bad usage: " + this);
            // the command's own streams: an engine running in this JVM may log to System.out/err meanwhile
            assertEquals("", out, () -> "nothing on standard output: " + this);
            List<String> lines = err.lines().filter(l -> !l.isBlank()).toList();
            assertEquals(1, lines.size(), () -> "exactly one line on standard error: " + this);
            assertTrue(lines.get(0).startsWith("ibex: ") && lines.get(0).contains(naming), () -> "one 'ibex: ' line naming '" + naming
                    + "': " + this);
            assertFalse(hasStackTrace(), () -> "no stack trace: " + this);
            return this;
        }

        Result requireOk() {
            assertEquals(0, code, () -> "command failed: " + this);
            return this;
        }

        @Override
        public String toString() {
            return "ibex " + String.join(" ", args) + " -> exit " + code + "\n--- out ---\n" + out + "--- err ---\n" + err
                    + "--- stray System.out ---\n" + strayOut + "--- stray System.err ---\n" + strayErr + "---";
        }
    }

    /** Runs one command line as {@code Main.run} does and returns what it did. */
    static synchronized Result run(String... args) {
        ByteArrayOutputStream strayOut = new ByteArrayOutputStream();
        ByteArrayOutputStream strayErr = new ByteArrayOutputStream();
        PrintStream realOut = System.out;
        PrintStream realErr = System.err;
        System.setOut(new PrintStream(strayOut, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(strayErr, true, StandardCharsets.UTF_8));
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code;
        try {
            // Built after System.out/err are swapped: picocli's execute() replaces the writers set
            // here by System.out/err as they were when the command line was built, if they differ.
            CommandLine cl = commandLine();
            cl.setOut(new PrintWriter(out, true));
            cl.setErr(new PrintWriter(err, true));
            code = cl.execute(args);
        } finally {
            System.out.flush();
            System.err.flush();
            System.setOut(realOut);
            System.setErr(realErr);
        }
        Result r = new Result(List.of(args), code, out.toString(), err.toString(),
                strayOut.toString(StandardCharsets.UTF_8), strayErr.toString(StandardCharsets.UTF_8));
        realOut.print(r.strayOut());
        realErr.print(r.strayErr());
        return r;
    }

    /** Parses a command's output as JSON. */
    static JsonNode parseJson(String text) {
        try {
            return JSON.readTree(text);
        } catch (Exception e) {
            throw new AssertionError("not JSON: " + e.getMessage() + "\n" + text, e);
        }
    }

    /** Runs a command that must succeed. */
    static Result ok(String... args) {
        return run(args).requireOk();
    }

    /** A fresh command line built by the CLI itself ({@code dev.ibex.cli.Cli.commandLine()}). */
    static CommandLine commandLine() {
        try {
            Method m = Class.forName("dev.ibex.cli.Cli").getDeclaredMethod("commandLine");
            m.setAccessible(true);
            return (CommandLine) m.invoke(null);
        } catch (InvocationTargetException e) {
            throw new IllegalStateException("Cli.commandLine() failed", e.getCause());
        } catch (ReflectiveOperationException e) {
            return fail("dev.ibex.cli.Cli.commandLine() is gone; update IbexCli to build the command line as Main.run does", e);
        }
    }

    /** The path of every command below {@code ibex}, e.g. [sync, add], parents before children. */
    static List<List<String>> commandPaths() {
        List<List<String>> paths = new ArrayList<>();
        collect(commandLine(), List.of(), paths);
        return paths;
    }

    private static void collect(CommandLine cl, List<String> path, List<List<String>> into) {
        cl.getSubcommands().forEach((name, sub) -> {
            if (!name.equals(sub.getCommandName())) {
                return; // an alias
            }
            List<String> p = new ArrayList<>(path);
            p.add(name);
            into.add(List.copyOf(p));
            collect(sub, p, into);
        });
    }

    /** {@code args} followed by {@code more}. */
    static String[] concat(List<String> args, String... more) {
        List<String> all = new ArrayList<>(args);
        all.addAll(Arrays.asList(more));
        return all.toArray(String[]::new);
    }
}
