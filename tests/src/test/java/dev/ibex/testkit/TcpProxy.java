package dev.ibex.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A TCP proxy on 127.0.0.1 that puts network faults between a client and a server.
 *
 * <p>{@link #cut()} closes every connection and refuses new ones (they are accepted and closed at
 * once, so the listening port stays reserved); {@link #stall()} keeps connections open but moves no
 * byte in either direction, and bytes held back are delivered after {@link #heal()} as TCP would
 * after a partition heals; {@link #delay(Duration)} forwards each chunk no earlier than the given
 * latency after it arrived. Two daemon threads pump each connection; {@link #close()} ends them all.
 */
public final class TcpProxy implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(TcpProxy.class);
    private static final int CONNECT_TIMEOUT_MILLIS = 5_000;
    private static final int BUFFER_BYTES = 16 * 1024;
    private static final Pattern JDBC_POSTGRES = Pattern.compile("^(jdbc:postgresql://)[^/?]*(.*)$");

    private enum Mode { FORWARD, CUT, STALL }

    private final String targetHost;
    private final int targetPort;
    private final ServerSocket listener;
    private final ExecutorService threads;
    private final Set<Link> links = ConcurrentHashMap.newKeySet();
    private final Object lock = new Object();
    private Mode mode = Mode.FORWARD;
    private long delayNanos;
    private boolean closed;

    private TcpProxy(InetAddress bind, int bindPort, String targetHost, int targetPort) throws IOException {
        this.targetHost = targetHost;
        this.targetPort = targetPort;
        this.listener = new ServerSocket(bindPort, 50, bind);
        this.threads = Executors.newCachedThreadPool(daemonThreads("tcp-proxy-" + listener.getLocalPort() + "-"));
        threads.execute(this::acceptLoop);
    }

    /** Starts a proxy on an ephemeral port of 127.0.0.1 forwarding to {@code targetHost:targetPort}. */
    public static TcpProxy start(String targetHost, int targetPort) {
        try {
            return new TcpProxy(InetAddress.getLoopbackAddress(), 0, targetHost, targetPort);
        } catch (IOException e) {
            throw new IllegalStateException("cannot start a proxy to " + targetHost + ":" + targetPort, e);
        }
    }

    /**
     * Starts a proxy listening on {@code bindHost:bindPort} (another loopback address, such as
     * 127.0.0.2, with the target's own port: a JVM that resolves the target's host name to it goes
     * through the proxy without any change to the URLs it is given).
     */
    public static TcpProxy start(String bindHost, int bindPort, String targetHost, int targetPort) {
        try {
            return new TcpProxy(InetAddress.getByName(bindHost), bindPort, targetHost, targetPort);
        } catch (IOException e) {
            throw new IllegalStateException("cannot start a proxy on " + bindHost + ":" + bindPort + " to " + targetHost + ":"
                    + targetPort, e);
        }
    }

    public int port() {
        return listener.getLocalPort();
    }

    /** Replaces the host and port of a {@code jdbc:postgresql://} URL with this proxy's. */
    public String rewrite(String jdbcUrl) {
        Matcher m = JDBC_POSTGRES.matcher(jdbcUrl);
        if (!m.matches()) {
            throw new IllegalArgumentException("not a jdbc:postgresql:// URL: " + jdbcUrl);
        }
        return m.group(1) + "127.0.0.1:" + port() + m.group(2);
    }

    /** Closes all current connections and refuses new ones until {@link #heal()}. */
    public void cut() {
        setMode(Mode.CUT);
        List.copyOf(links).forEach(Link::close);
    }

    /** Keeps connections open but stops forwarding in both directions until {@link #heal()}. */
    public void stall() {
        setMode(Mode.STALL);
    }

    /** Adds {@code latency} to every chunk forwarded from now on; {@link #heal()} removes it. */
    public void delay(Duration latency) {
        synchronized (lock) {
            delayNanos = latency.toNanos();
            lock.notifyAll();
        }
        LOG.info("{}: delay {} ms", this, latency.toMillis());
    }

    /** Back to forwarding everything at once; bytes held back by {@link #stall()} are delivered. */
    public void heal() {
        synchronized (lock) {
            delayNanos = 0;
        }
        setMode(Mode.FORWARD);
    }

    @Override
    public void close() {
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            lock.notifyAll();
        }
        closeQuietly(listener);
        List.copyOf(links).forEach(Link::close);
        threads.shutdownNow();
        try {
            threads.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "TcpProxy[127.0.0.1:" + port() + " -> " + targetHost + ":" + targetPort + "]";
    }

    private void setMode(Mode newMode) {
        synchronized (lock) {
            mode = newMode;
            lock.notifyAll();
        }
        LOG.info("{}: {}", this, newMode.name().toLowerCase());
    }

    private Mode mode() {
        synchronized (lock) {
            return mode;
        }
    }

    private void acceptLoop() {
        while (true) {
            Socket client;
            try {
                client = listener.accept();
            } catch (IOException e) {
                if (!listener.isClosed()) {
                    LOG.warn("{}: stopped accepting connections", this, e);
                }
                return;
            }
            if (mode() == Mode.CUT) {
                closeQuietly(client);
            } else {
                run(() -> connect(client), client);
            }
        }
    }

    private void connect(Socket client) {
        Socket upstream = new Socket();
        try {
            upstream.connect(new InetSocketAddress(targetHost, targetPort), CONNECT_TIMEOUT_MILLIS);
            upstream.setTcpNoDelay(true);
            client.setTcpNoDelay(true);
        } catch (IOException e) {
            LOG.debug("{}: cannot reach the target", this, e);
            closeQuietly(client);
            closeQuietly(upstream);
            return;
        }
        Link link = new Link(client, upstream);
        links.add(link);
        if (mode() == Mode.CUT || isClosed()) {
            link.close();
            return;
        }
        run(() -> pump(link, upstream, client), link);
        pump(link, client, upstream);
    }

    /** Copies bytes from one socket to the other, honouring stall and delay, until either side ends. */
    private void pump(Link link, Socket from, Socket to) {
        byte[] buffer = new byte[BUFFER_BYTES];
        try {
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            int n;
            while ((n = in.read(buffer)) >= 0) {
                if (!awaitForwarding(link, System.nanoTime())) {
                    break;
                }
                out.write(buffer, 0, n);
                out.flush();
            }
        } catch (IOException e) {
            LOG.debug("{}: connection ended", this, e);
        } finally {
            link.close();
        }
    }

    /** Waits until a chunk read at {@code readAt} may be forwarded; false if the link is gone. */
    private boolean awaitForwarding(Link link, long readAt) {
        synchronized (lock) {
            try {
                while (!closed && !link.isClosed()) {
                    long wait = readAt + delayNanos - System.nanoTime();
                    if (mode == Mode.FORWARD && wait <= 0) {
                        return true;
                    }
                    if (mode == Mode.FORWARD) {
                        TimeUnit.NANOSECONDS.timedWait(lock, wait);
                    } else {
                        lock.wait();
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return false;
        }
    }

    private boolean isClosed() {
        synchronized (lock) {
            return closed;
        }
    }

    private void run(Runnable task, AutoCloseable onRejection) {
        try {
            threads.execute(task);
        } catch (RejectedExecutionException e) {
            closeQuietly(onRejection);
        }
    }

    private void wakeUp() {
        synchronized (lock) {
            lock.notifyAll();
        }
    }

    private static ThreadFactory daemonThreads(String prefix) {
        AtomicInteger count = new AtomicInteger();
        return task -> {
            Thread thread = new Thread(task, prefix + count.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        };
    }

    private static void closeQuietly(AutoCloseable closeable) {
        try {
            closeable.close();
        } catch (Exception e) {
            LOG.debug("ignoring failure to close {}", closeable, e);
        }
    }

    /** One proxied connection: the client's socket and the socket to the target. */
    private final class Link implements AutoCloseable {
        private final Socket client;
        private final Socket upstream;
        private final AtomicBoolean closed = new AtomicBoolean();

        Link(Socket client, Socket upstream) {
            this.client = client;
            this.upstream = upstream;
        }

        boolean isClosed() {
            return closed.get();
        }

        @Override
        public void close() {
            if (closed.compareAndSet(false, true)) {
                closeQuietly(client);
                closeQuietly(upstream);
                links.remove(this);
                wakeUp();
            }
        }
    }
}
