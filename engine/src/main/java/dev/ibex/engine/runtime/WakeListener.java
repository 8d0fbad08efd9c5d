package dev.ibex.engine.runtime;

import dev.ibex.engine.db.Redactor;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import java.util.function.Supplier;
import javax.sql.DataSource;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Listens on the control database for operator kicks ({@code ibex sync kick}) and hands each
 * notification's payload (a sync name) to the engine. A blocking loop on its own
 * daemon thread; reconnects with backoff when the database goes away.
 */
final class WakeListener implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(WakeListener.class);

    private final String what;
    private final Supplier<DataSource> source;
    private final String channel;
    private final Consumer<String> onWake;
    private final Thread thread;
    private volatile boolean closed;

    WakeListener(String what, Supplier<DataSource> source, String channel, Consumer<String> onWake) {
        this.what = what;
        this.source = source;
        this.channel = channel;
        this.onWake = onWake;
        this.thread = new Thread(this::loop, "ibex-listen-" + what);
        this.thread.setDaemon(true);
        this.thread.start();
    }

    private void loop() {
        long backoffMs = 200;
        while (!closed) {
            try (Connection c = source.get().getConnection()) {
                try (Statement s = c.createStatement()) {
                    s.execute("listen " + channel);
                }
                backoffMs = 200;
                PGConnection pg = c.unwrap(PGConnection.class);
                while (!closed) {
                    PGNotification[] ns = pg.getNotifications(500);
                    if (ns != null) {
                        for (PGNotification n : ns) {
                            onWake.accept(n.getParameter());
                        }
                    }
                }
            } catch (SQLException | RuntimeException e) {
                if (!closed) {
                    LOG.debug("listening on {} failed, retrying in {} ms: {}", what, backoffMs, Redactor.text(e.getMessage()));
                    LockSupport.parkNanos(backoffMs * 1_000_000);
                    backoffMs = Math.min(backoffMs * 2, 10_000);
                }
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        thread.interrupt();
    }
}
