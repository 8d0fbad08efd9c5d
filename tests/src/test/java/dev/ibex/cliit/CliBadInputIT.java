package dev.ibex.cliit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ibex.cli.Main;
import dev.ibex.testkit.Await;
import dev.ibex.testkit.PgServer;
import dev.ibex.testkit.Sql;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestInstance.Lifecycle;

/**
 * The CLI contract for bad input (DESIGN.md, "What users run"): every bad usage or configuration
 * exits 2 with exactly one line on standard error that starts with "ibex: " and names the bad
 * value, prints no stack trace and no password, and changes nothing: neither the control
 * database nor the nodes (no ibex schema, no capture triggers for a refused sync, the same rows
 * in every table).
 *
 * <p>Logging is configured as the shipped launcher configures it, so "standard error" here is what
 * a user sees. Three servers a, b, c each hold database {@code app}; the control database is on
 * a's server; node {@code delta} (c's server, database postgres) has a name long enough to look
 * for in messages. Sync {@code s1} (nodes a, b; table {@code taken}) exists so that "already in a
 * sync" can be tried. Each refused command uses its own sync name so one wrongly accepted command
 * cannot make the next one fail for another reason.
 */
@TestInstance(Lifecycle.PER_CLASS)
class CliBadInputIT {
    private static final String DB = "app";
    private static final String GOOD_PASSWORD = "S3cretPw!";
    private static final String WRONG_PASSWORD = "wrongpw123";
    private static final Duration RELOAD = Duration.ofSeconds(20);
    private static final String PGPASSFILE = "org.postgresql.pgpassfile";

    private final Map<String, PgServer> servers = new LinkedHashMap<>();
    private String control;

    @BeforeAll
    void setUp() {
        CliLogging.useShippedConfiguration();
        for (String n : List.of("a", "b", "c")) {
            PgServer server = PgServer.start("cli-bad-" + n);
            servers.put(n, server);
            server.createDatabase(DB);
            server.execute(DB,
                    "create table t (id int primary key, v text)",
                    "create table taken (id int primary key, v text)",
                    "create table nopk (id int, v text)",
                    "create table diff (id int primary key, v text)",
                    "create table typed (id int primary key, v " + (n.equals("c") ? "integer" : "text") + ")");
            if (!n.equals("c")) {
                server.execute(DB, "create table only_ab (id int primary key, v text)");
            }
            if (n.equals("a")) {
                server.execute(DB, "insert into diff values (1, 'only on a')");
            }
        }
        server("a").createDatabase("ibex_control");
        control = server("a").jdbcUrl("ibex_control");
        IbexCli.ok("setup", "--control", control);
        for (String n : servers.keySet()) {
            IbexCli.ok("node", "add", n, "--url", server(n).jdbcUrl(DB), "--control", control);
        }
        IbexCli.ok("node", "add", "delta", "--url", server("c").jdbcUrl("postgres"), "--control", control);
        IbexCli.ok("sync", "add", "s1", "--nodes", "a,b", "--tables", "taken", "--control", control);
        for (String n : List.of("a", "b")) {
            assertEquals(List.of("taken.ibex_capture_del", "taken.ibex_capture_ins", "taken.ibex_capture_key", "taken.ibex_capture_trunc",
                    "taken.ibex_capture_upd"), captureTriggers(n), "capture of s1 on node " + n);
        }
        assertEquals(List.of(), captureTriggers("c"), "node c is in no sync");
    }

    @AfterAll
    void tearDown() {
        try {
            servers.values().forEach(PgServer::close);
        } finally {
            CliLogging.useTestConfiguration();
        }
    }

    // ---- unknown names

    @Test
    void unknownNodeInSyncAdd() {
        refused("zz", "sync", "add", "s_unknown_node", "--nodes", "a,zz", "--tables", "t");
    }

    @Test
    void unknownSync() {
        refused("nosuch", "sync", "pause", "nosuch");
        refused("nosuch", "sync", "resume", "nosuch");
        refused("nosuch", "sync", "kick", "nosuch");
        refused("nosuch", "sync", "remove", "nosuch");
        refused("nosuch", "status", "nosuch");
        refused("nosuch", "conflicts", "nosuch");
        refused("nosuch", "table", "pause", "nosuch", "t");
        refused("nosuch", "validate", "nosuch");
        refused("nosuch", "sequences", "interleave", "nosuch");
    }

    @Test
    void badClusterOptionsOfStart() {
        refused("--cluster-seeds", "start", "--cluster-bind", "127.0.0.1:25520");
        refused("notaport", "start", "--cluster-bind", "127.0.0.1:notaport", "--cluster-seeds", "127.0.0.1:25520");
        refused("70000", "start", "--cluster-bind", "127.0.0.1:25520", "--cluster-seeds", "127.0.0.1:70000");
        refused("/nonexistent/ibex-cluster.conf", "start", "--cluster-bind", "127.0.0.1:25520", "--cluster-seeds", "127.0.0.1:25520",
                "--cluster-config", "/nonexistent/ibex-cluster.conf");
        refused("--engine-name", "start", "--engine-name", " ");
    }

    @Test
    void unknownNode() {
        refused("zz", "node", "check", "zz");
        refused("zz", "node", "remove", "zz");
    }

    @Test
    void tableNotInTheSync() {
        refused("t", "table", "pause", "s1", "t");
        refused("t", "table", "resume", "s1", "t");
        refused("t", "validate", "s1", "--table", "t");
    }

    @Test
    void nodeInASyncCannotBeRemoved() {
        refused("s1", "node", "remove", "a");
    }

    @Test
    void syncNameTaken() {
        refused("s1", "sync", "add", "s1", "--nodes", "a,c", "--tables", "t");
    }

    @Test
    void nodeNameTaken() {
        refused("a", "node", "add", "a", "--url", server("c").jdbcUrl(DB));
    }

    // ---- nodes that cannot be used

    @Test
    void unreachableNodeUrl() {
        refused("127.0.0.1:1/x", "node", "add", "d", "--url", "jdbc:postgresql://127.0.0.1:1/x?user=postgres");
    }

    @Test
    void missingDatabaseInNodeUrl() {
        refused("nosuchdb", "node", "add", "d", "--url", server("c").jdbcUrl("nosuchdb"));
    }

    @Test
    void notAJdbcUrl() {
        refused("mysql", "node", "add", "d", "--url", "jdbc:mysql://127.0.0.1:3306/x");
    }

    @Test
    void passwordEnvironmentVariableNotSet() {
        String variable = "IBEX_CLI_IT_UNSET_PASSWORD";
        assertNull(System.getenv(variable), "this test needs " + variable + " unset");
        refused(variable, "node", "add", "d", "--url", server("c").jdbcUrl(DB), "--password-env", variable);
    }

    @Test
    void wrongPasswordIsRefusedAndNeverPrinted() {
        String url = requirePasswordRole("b");
        IbexCli.Result r = withPasswordFile(WRONG_PASSWORD, () -> refused("ibex_pw", "node", "add", "d", "--url", url));
        assertFalse(r.everything().contains(WRONG_PASSWORD), () -> "the wrong password is printed: " + r);
    }

    /** Node URLs are stored in the control database, so one carrying a password is refused (issue 4, item 8). */
    @Test
    void passwordInANodeUrlIsRefusedAndNeverPrinted() {
        String url = requirePasswordRole("b") + "&password=" + GOOD_PASSWORD;
        IbexCli.Result r = refused("pwok", "node", "add", "pwok", "--url", url);
        assertTrue(line(r).contains("--password-env"), () -> "the message says where the password belongs: " + r);
        assertFalse(r.everything().contains(GOOD_PASSWORD), () -> "a password is printed: " + r);
    }

    @Test
    void passwordInTheControlUrlOnTheCommandLineIsRefusedAndNotEchoed() {
        String secret = "ctlpw987";
        String url = control + "&password=" + secret; // a command line is visible to every user (ps)
        IbexCli.Result listed = IbexCli.run("node", "list", "--control", url);
        assertOneLineRefusal(listed, "--control");
        assertTrue(line(listed).contains("IBEX_CONTROL"), () -> "the message says where the URL belongs: " + listed);
        assertFalse(listed.everything().contains(secret), () -> "a password is printed: " + listed);
        IbexCli.Result r = IbexCli.run("node", "lst", "--control", url);
        assertOneLineRefusal(r, "lst");
        assertFalse(r.everything().contains(secret), () -> "the control URL's password is printed: " + r);
    }

    @Test
    void passwordGivenAsAFlagIsNotEchoed() {
        // The contract has no password flag; an operator who tries one must not see it printed back.
        IbexCli.Result r = refused("--password", "node", "add", "d", "--url", server("c").jdbcUrl(DB), "--password", "hunter2xyz");
        assertFalse(r.everything().contains("hunter2xyz"), () -> "a password typed as a flag is printed: " + r);
    }

    /**
     * Node delta's URL reaches a database that exists but is not the one holding the tables (c's
     * postgres database): node add cannot know, but a sync with it is refused, naming the node.
     */
    @Test
    void nodeUrlPointingAtTheWrongDatabase() {
        IbexCli.Result r = refused("delta", "sync", "add", "s_wrongdb", "--nodes", "a,delta", "--tables", "t");
        assertTrue(Pattern.compile("\\bt\\b").matcher(line(r)).find(), () -> "the message names table t: " + r);
    }

    /** Node alias reaches node a's database under another host name: a sync of the two is refused. */
    @Test
    void twoNodesReachingTheSameDatabase() {
        IbexCli.ok("node", "add", "alias", "--url", server("a").jdbcUrl(DB).replace("//127.0.0.1:", "//localhost:"),
                "--control", control);
        try {
            IbexCli.Result r = refused("alias", "sync", "add", "s_alias", "--nodes", "a,alias", "--tables", "t");
            assertNamesNode(r, "a");
            assertTrue(line(r).contains("same database"), () -> "the message says what is wrong: " + r);
        } finally {
            IbexCli.ok("node", "remove", "alias", "--control", control);
        }
    }

    // ---- changes to an existing sync that conflict with it

    @Test
    void syncSetWithNothingToChangeOrConflictingValues() {
        refused("s1", "sync", "set", "s1");
        refused("--priority", "sync", "set", "s1", "--strategy", "priority");
        IbexCli.Result r = refused("--priority", "sync", "set", "s1", "--strategy", "priority", "--priority", "a,c");
        assertNamesNode(r, "c");
        refused("0s", "sync", "set", "s1", "--interval", "0s");
        refused("bogus", "sync", "set", "s1", "--strategy", "bogus");
    }

    @Test
    void tableChangesThatConflictWithTheSync() {
        refused("taken", "table", "add", "s1", "taken");
        refused("nosuchtable", "table", "add", "s1", "nosuchtable");
        refused("nopk", "table", "add", "s1", "nopk");
        refused("t", "table", "remove", "s1", "t");
        refused("bogus", "table", "strategy", "s1", "bogus", "taken");
        refused("t", "table", "strategy", "s1", "latest", "t");
    }

    @Test
    void unknownConflict() {
        refused("999999", "conflicts", "show", "999999");
        refused("999999", "conflicts", "resolve", "999999", "--take", "a");
    }

    // ---- tables that cannot be replicated

    @Test
    void tableMissingOnOneNode() {
        IbexCli.Result r = refused("only_ab", "sync", "add", "s_missing", "--nodes", "a,b,c", "--tables", "only_ab");
        assertNamesNode(r, "c");
    }

    @Test
    void columnTypeDiffersBetweenNodes() {
        IbexCli.Result r = refused("typed", "sync", "add", "s_typed", "--nodes", "a,b,c", "--tables", "typed");
        assertNamesNode(r, "c");
        assertTrue(Pattern.compile("\\bv\\b").matcher(line(r)).find(), () -> "the message names column v: " + r);
        assertTrue(line(r).contains("integer"), () -> "the message names the differing type: " + r);
    }

    @Test
    void tableWithoutPrimaryKey() {
        IbexCli.Result r = refused("nopk", "sync", "add", "s_nopk", "--nodes", "a,b,c", "--tables", "nopk");
        assertTrue(line(r).contains("primary key"), () -> "the message says what is missing: " + r);
    }

    @Test
    void tableAlreadyInAnotherSync() {
        IbexCli.Result r = refused("taken", "sync", "add", "s_taken", "--nodes", "a,c", "--tables", "taken");
        assertTrue(line(r).contains("s1"), () -> "the message names the sync holding the table: " + r);
    }

    @Test
    void tableContentsDifferWithoutInitialCopy() {
        IbexCli.Result r = refused("diff", "sync", "add", "s_diff", "--nodes", "a,b,c", "--tables", "diff");
        assertTrue(line(r).contains("--initial-copy-from"), () -> "the message says how to fix it: " + r);
    }

    @Test
    void unknownTable() {
        refused("nosuchtable", "sync", "add", "s_notable", "--nodes", "a,b", "--tables", "nosuchtable");
    }

    // ---- bad option values

    @Test
    void unknownStrategy() {
        refused("bogus", "sync", "add", "s_bogus", "--nodes", "a,b,c", "--tables", "t", "--strategy", "bogus");
        refused("NoSuchResolver", "sync", "add", "s_custom", "--nodes", "a,b,c", "--tables", "t", "--strategy",
                "custom:com.example.NoSuchResolver");
    }

    @Test
    void priorityNamesANodeOutsideTheSync() {
        IbexCli.Result r = refused("--priority", "sync", "add", "s_prio", "--nodes", "a,b", "--tables", "t",
                "--strategy", "priority", "--priority", "a,c");
        assertNamesNode(r, "c");
    }

    @Test
    void priorityStrategyWithoutPriority() {
        refused("--priority", "sync", "add", "s_noprio", "--nodes", "a,b", "--tables", "t", "--strategy", "priority");
    }

    @Test
    void badInterval() {
        refused("soon", "sync", "add", "s_soon", "--nodes", "a,b,c", "--tables", "t", "--interval", "soon");
        refused("0s", "sync", "add", "s_zero", "--nodes", "a,b,c", "--tables", "t", "--interval", "0s");
        refused("-5s", "sync", "add", "s_negative", "--nodes", "a,b,c", "--tables", "t", "--interval", "-5s");
    }

    @Test
    void initialCopyFromANodeOutsideTheSync() {
        IbexCli.Result r = refused("--initial-copy-from", "sync", "add", "s_copy", "--nodes", "a,b", "--tables", "t",
                "--initial-copy-from", "c");
        assertNamesNode(r, "c");
    }

    @Test
    void syncWithOneNode() {
        refused("two", "sync", "add", "s_one", "--nodes", "a", "--tables", "t");
    }

    @Test
    void syncWithANodeTwiceNamesTheNode() {
        refused("delta", "sync", "add", "s_twice", "--nodes", "a,delta,delta", "--tables", "t");
    }

    @Test
    void invalidNames() {
        refused("bad name", "node", "add", "bad name", "--url", server("c").jdbcUrl(DB));
        refused("bad/sync", "sync", "add", "bad/sync", "--nodes", "a,b", "--tables", "t");
        refused("x.y.z", "sync", "add", "s_badtable", "--nodes", "a,b", "--tables", "x.y.z");
    }

    @Test
    void badKickTimeoutAndSince() {
        refused("later", "sync", "kick", "s1", "--wait", "--timeout", "later");
        refused("yesterday", "conflicts", "--since", "yesterday");
    }

    @Test
    void commandLineSyntaxErrors() {
        refused("--bogus", "sync", "add", "s_syntax", "--nodes", "a,b", "--tables", "t", "--bogus");
        refused("--nodes", "sync", "add", "s_syntax", "--tables", "t");
        refused("--tables", "sync", "add", "s_syntax", "--nodes", "a,b", "--tables", "t", "--schema", "public");
        refused("frobnicate", "frobnicate");
    }

    /** Issue 15: errors that picocli finds while parsing are one line too, each naming what to fix. */
    @Test
    void parseErrorsAreOneLine() {
        refused("subcommand", "sync");
        refused("'abc'", "conflicts", "--limit", "abc");
        refused("'abc'", "conflicts", "show", "abc");
        refused("--seconds", "demo", "--seconds", "x");
        refused("--interval", "sync", "set", "s1", "--interval", "5s", "--interval", "6s");
        refused("TABLE", "table", "add", "s1");
        IbexCli.Result r = IbexCli.run("status", "--control");
        assertOneLineRefusal(r, "--control");
        IbexCli.Result none = IbexCli.run("--control", control);
        assertOneLineRefusal(none, "subcommand");
    }

    /**
     * Issue 15: --control and --control-password-env may come before or after the subcommand,
     * at any depth, and every command's --help lists them.
     */
    @Test
    void controlOptionsBeforeOrAfterTheSubcommand() {
        String after = IbexCli.ok("node", "list", "--json", "--control", control).json().toString();
        assertEquals(after, IbexCli.ok("--control", control, "node", "list", "--json").json().toString());
        assertEquals(after, IbexCli.ok("node", "--control", control, "list", "--json").json().toString());
        String variable = "IBEX_CLI_IT_UNSET_CONTROL_PASSWORD";
        assertNull(System.getenv(variable), "this test needs " + variable + " unset");
        assertOneLineRefusal(IbexCli.run("--control-password-env", variable, "--control", control, "sync", "list"), variable);
        assertOneLineRefusal(IbexCli.run("sync", "list", "--control-password-env", variable, "--control", control), variable);
        assertOneLineRefusal(IbexCli.run("--control-password-env", variable, "sync", "list", "--control", control), variable);
        assertOneLineRefusal(IbexCli.run("--control", control + "&password=ctlpw987", "status"), "--control");
        for (List<String> path : IbexCli.commandPaths()) {
            String help = IbexCli.run(IbexCli.concat(path, "--help")).out();
            // demo and bench start servers of their own and take no control database
            boolean own = List.of("demo", "bench").contains(path.get(0));
            assertEquals(!own, help.contains("--control=JDBC_URL") && help.contains("--control-password-env=VAR"),
                    () -> "ibex " + String.join(" ", path) + " --help " + (own ? "does not list" : "lists") + " the control options: " + help);
        }
        assertOneLineRefusal(IbexCli.run("demo", "--control", control), "--control");
    }

    // ---- the control database

    @Test
    void controlDatabaseMissing() {
        assertNull(System.getenv("IBEX_CONTROL"), "this test needs IBEX_CONTROL unset");
        IbexCli.Result r = IbexCli.run("node", "list");
        assertOneLineRefusal(r, "--control");
    }

    @Test
    void controlDatabaseNotSetUp() {
        IbexCli.Result r = IbexCli.run("node", "list", "--control", server("b").jdbcUrl("postgres"));
        assertOneLineRefusal(r, "setup");
    }

    @Test
    void controlDatabaseDoesNotExist() {
        IbexCli.Result r = IbexCli.run("node", "list", "--control", server("b").jdbcUrl("nosuchdb"));
        assertOneLineRefusal(r, "nosuchdb");
    }

    @Test
    void controlDatabaseWrongPassword() {
        String url = server("b").jdbcUrl("postgres").replace("user=postgres", "user=ibex_pw");
        requirePasswordRole("b");
        IbexCli.Result r = withPasswordFile(WRONG_PASSWORD, () -> IbexCli.run("node", "list", "--control", url));
        assertOneLineRefusal(r, "ibex_pw");
        assertFalse(r.everything().contains(WRONG_PASSWORD), () -> "the wrong password is printed: " + r);
    }

    @Test
    void controlDatabaseUnreachableFailsInOneLine() {
        IbexCli.Result r = IbexCli.run("node", "list", "--control", "jdbc:postgresql://127.0.0.1:1/ibex_control?user=postgres");
        assertTrue(r.code() == 1 || r.code() == 2, () -> "exit 1 or 2: " + r);
        assertOneLine(r, "127.0.0.1:1");
    }

    // ---- the real entry point, and help

    @Test
    void mainRunReturnsTheExitCodeAndPrintsToSystemErr() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream realOut = System.out;
        PrintStream realErr = System.err;
        int code;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            code = Main.run("sync", "pause", "nosuch", "--control", control);
        } finally {
            System.setOut(realOut);
            System.setErr(realErr);
        }
        String stderr = err.toString(StandardCharsets.UTF_8);
        assertEquals(2, code, stderr);
        assertEquals("", out.toString(StandardCharsets.UTF_8));
        List<String> lines = stderr.lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), stderr);
        assertTrue(lines.get(0).startsWith("ibex: ") && lines.get(0).contains("nosuch"), stderr);
    }

    @Test
    void everyCommandHasHelp() {
        Set<String> seen = new TreeSet<>();
        List<List<String>> paths = new ArrayList<>(IbexCli.commandPaths());
        paths.add(0, List.of());
        for (List<String> path : paths) {
            IbexCli.Result r = IbexCli.run(IbexCli.concat(path, "--help"));
            String qualified = String.join(" ", IbexCli.concat(List.of("ibex"), path.toArray(String[]::new)));
            assertEquals(0, r.code(), () -> "--help exits 0: " + r);
            assertTrue(r.out().startsWith("Usage: " + qualified), () -> "--help prints usage: " + r);
            assertEquals("", r.stderr(), () -> "--help prints nothing on stderr: " + r);
            seen.add(String.join(" ", path));
        }
        assertTrue(seen.size() > 20, () -> "commands found: " + seen);
    }

    /** The commands that DESIGN.md's CLI contract lists. */
    @Test
    void everyCommandOfTheContractExists() {
        Set<String> commands = new TreeSet<>();
        IbexCli.commandPaths().forEach(p -> commands.add(String.join(" ", p)));
        List<String> missing = new ArrayList<>();
        for (String c : List.of("setup", "node add", "node list", "node remove", "node check", "sync add", "sync list",
                "sync remove", "sync pause", "sync resume", "sync kick", "table add", "table remove", "table pause",
                "table resume", "start", "engines", "status", "conflicts", "trace", "validate", "demo", "sync remove-node",
                "sequences interleave", "sync wait")) {
            if (!commands.contains(c)) {
                missing.add(c);
            }
        }
        assertEquals(List.of(), missing, () -> "commands of the contract missing from the CLI; it has " + commands);
    }

    // ---- helpers

    /**
     * Runs a command that must be refused: exit 2, one line "ibex: ..." naming {@code badValue} on
     * standard error, nothing on standard output, no stack trace, and nothing changed.
     */
    private IbexCli.Result refused(String badValue, String... args) {
        String before = state();
        IbexCli.Result r = IbexCli.run(IbexCli.concat(List.of(args), "--control", control));
        assertOneLineRefusal(r, badValue);
        assertEquals(before, state(), () -> "a refused command changed something: " + r);
        return r;
    }

    private static void assertOneLineRefusal(IbexCli.Result r, String badValue) {
        assertEquals(2, r.code(), () -> "exit code 2 for bad usage or configuration: " + r);
        assertOneLine(r, badValue);
    }

    private static void assertOneLine(IbexCli.Result r, String badValue) {
        assertFalse(r.hasStackTrace(), () -> "a stack trace is printed: " + r);
        assertEquals(1, r.stderrLines().size(), () -> "exactly one line on standard error: " + r);
        assertTrue(line(r).startsWith("ibex: "), () -> "the line starts with 'ibex: ': " + r);
        assertTrue(line(r).contains(badValue), () -> "the line names the bad value '" + badValue + "': " + r);
        assertEquals("", r.stdout(), () -> "nothing on standard output: " + r);
    }

    /** The message names {@code node} as a word (only used for node c, which is no English word). */
    private static void assertNamesNode(IbexCli.Result r, String node) {
        assertTrue(Pattern.compile("\\b" + Pattern.quote(node) + "\\b").matcher(line(r).substring("ibex: ".length())).find(),
                () -> "the message names node " + node + ": " + r);
    }

    private static String line(IbexCli.Result r) {
        return r.stderrLines().get(0);
    }

    private PgServer server(String node) {
        return servers.get(node);
    }

    /**
     * Everything a refused command must leave alone: every control table (but Flyway's history),
     * what 'node list --json' and 'sync list --json' print, and on every node the ibex schema's
     * tables and the capture triggers.
     */
    private String state() {
        StringBuilder s = new StringBuilder();
        try (Connection c = Sql.connect(control)) {
            for (List<String> table : Sql.rows(c, "select tablename from pg_tables where schemaname = 'ibex' "
                    + "and tablename <> 'ibex_schema_history' order by 1")) {
                String name = table.get(0);
                s.append("control ").append(name).append(": ")
                        .append(Sql.rows(c, "select x::text from ibex.\"" + name + "\" x order by 1")).append('\n');
            }
        } catch (SQLException e) {
            throw new Sql.UncheckedSqlException("reading the control database", e);
        }
        s.append("node list: ").append(IbexCli.ok("node", "list", "--json", "--control", control).json()).append('\n');
        s.append("sync list: ").append(IbexCli.ok("sync", "list", "--json", "--control", control).json()).append('\n');
        for (String n : servers.keySet()) {
            try (Connection c = server(n).connect(DB)) {
                s.append("node ").append(n).append(" ibex tables: ")
                        .append(Sql.rows(c, "select tablename from pg_tables where schemaname = 'ibex' order by 1")).append('\n');
            } catch (SQLException e) {
                throw new Sql.UncheckedSqlException("reading node " + n, e);
            }
            s.append("node ").append(n).append(" capture triggers: ").append(captureTriggers(n)).append('\n');
            s.append("node ").append(n).append(" data: ").append(userData(n)).append('\n');
        }
        return s.toString();
    }

    /** Every row of every table in schema public of {@code node}'s database, as text. */
    private String userData(String node) {
        try (Connection c = server(node).connect(DB)) {
            StringBuilder out = new StringBuilder();
            for (List<String> t : Sql.rows(c, "select tablename from pg_tables where schemaname = 'public' order by 1")) {
                out.append(t.get(0)).append(Sql.rows(c, "select x::text from public.\"" + t.get(0) + "\" x order by 1"));
            }
            return out.toString();
        } catch (SQLException e) {
            throw new Sql.UncheckedSqlException("reading the tables of node " + node, e);
        }
    }

    /** The capture triggers on node {@code node}, as table.trigger. */
    private List<String> captureTriggers(String node) {
        try (Connection c = server(node).connect(DB)) {
            return Sql.rows(c, "select c.relname || '.' || t.tgname from pg_trigger t join pg_class c on c.oid = t.tgrelid "
                    + "where t.tgname like 'ibex%' order by 1").stream().map(r -> r.get(0)).toList();
        } catch (SQLException e) {
            throw new Sql.UncheckedSqlException("reading triggers of node " + node, e);
        }
    }

    /**
     * Makes role ibex_pw on {@code node}'s server log in only with its password (scram-sha-256 over
     * TCP, ahead of the cluster's "trust" lines), checks that the server enforces it, and returns
     * a URL for database app as ibex_pw without a password. Idempotent.
     */
    private synchronized String requirePasswordRole(String node) {
        PgServer server = server(node);
        String url = server.jdbcUrl(DB).replace("user=postgres", "user=ibex_pw");
        try (Connection c = server.connect("postgres")) {
            if (Sql.count(c, "select count(*) from pg_roles where rolname = 'ibex_pw'") == 0) {
                Sql.exec(c, "set password_encryption = 'scram-sha-256'");
                Sql.exec(c, "create role ibex_pw login password '" + GOOD_PASSWORD + "'");
                Path hba = Path.of(Sql.rows(c, "show hba_file").get(0).get(0));
                Files.writeString(hba, "host all ibex_pw 127.0.0.1/32 scram-sha-256\n" + Files.readString(hba));
                Sql.count(c, "select count(*) from pg_reload_conf()");
            }
        } catch (SQLException | IOException e) {
            throw new IllegalStateException("cannot set up password authentication on " + server, e);
        }
        Await.until("the server to refuse ibex_pw without its password", RELOAD,
                () -> "28P01".equals(loginFailure(url + "&password=" + WRONG_PASSWORD)));
        assertNull(loginFailure(url + "&password=" + GOOD_PASSWORD), "ibex_pw logs in with its password");
        return url;
    }

    /**
     * Runs {@code action} with PgJDBC reading passwords from a password file (its ~/.pgpass, named
     * here by its system property) that gives role ibex_pw {@code password}.
     */
    private static <T> T withPasswordFile(String password, java.util.function.Supplier<T> action) {
        try {
            Path pgpass = Files.createTempFile("pgpass", "");
            Files.writeString(pgpass, "*:*:*:ibex_pw:" + password + "\n");
            System.setProperty(PGPASSFILE, pgpass.toString());
            try {
                return action.get();
            } finally {
                System.clearProperty(PGPASSFILE);
                Files.delete(pgpass);
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** The SQLSTATE of a failed login, or null if the login succeeds. */
    private static String loginFailure(String url) {
        try (Connection c = DriverManager.getConnection(url)) {
            return null;
        } catch (SQLException e) {
            return e.getSQLState();
        }
    }
}
