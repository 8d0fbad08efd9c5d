package dev.ibex.cli;

import dev.ibex.engine.db.NodeDirectory;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The demo's writers: one thread per node, each updating a shared set of hot customers (so that
 * nodes conflict), adding customers and order lines of its own, and deleting some of its lines.
 */
final class DemoWorkload {
    static final int CUSTOMERS = 200;
    static final int HOT = 20;

    record Result(long transactions, Map<String, Long> perNode) {
    }

    private DemoWorkload() {
    }

    static UUID customer(int i) {
        return UUID.nameUUIDFromBytes(("customer-" + i).getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    static void seed(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("insert into shop.customer (id, name, city, balance) values (?, ?, ?, 100)")) {
            for (int i = 0; i < CUSTOMERS; i++) {
                ps.setObject(1, customer(i));
                ps.setString(2, "Customer " + i);
                ps.setString(3, List.of("Lyon", "Oslo", "Porto", "Graz").get(i % 4));
                ps.addBatch();
            }
            ps.executeBatch();
        }
    }

    static Result run(NodeDirectory nodes, List<String> names, Duration length) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(names.size());
        try {
            long end = System.nanoTime() + length.toNanos();
            List<Future<Long>> futures = new ArrayList<>();
            for (int i = 0; i < names.size(); i++) {
                String n = names.get(i);
                int nodeIndex = i;
                futures.add(pool.submit(() -> write(nodes, n, nodeIndex, end)));
            }
            Map<String, Long> per = new LinkedHashMap<>();
            long total = 0;
            for (int i = 0; i < names.size(); i++) {
                long t = futures.get(i).get();
                per.put(names.get(i), t);
                total += t;
            }
            return new Result(total, per);
        } finally {
            pool.shutdownNow();
        }
    }

    private static long write(NodeDirectory nodes, String node, int nodeIndex, long end) throws SQLException {
        Random r = new Random(nodeIndex * 7919L);
        long n = 0;
        try (Connection c = nodes.pool(node).getConnection()) {
            while (System.nanoTime() < end) {
                int op = r.nextInt(10);
                if (op < 4) {
                    exec(c, "update shop.customer set balance = balance + ?, city = ?, updated_at = now() where id = ?",
                            r.nextInt(50), node.toUpperCase() + "-city", customer(r.nextInt(HOT)));
                } else if (op < 7) {
                    long order = nodeIndex * 1_000_000L + n;
                    exec(c, "insert into shop.\"Order Line\" (order_id, line, sku, qty) values (?, 1, ?, ?)", order, "SKU-" + r.nextInt(99), 1 + r.nextInt(5));
                } else if (op < 8) {
                    exec(c, "delete from shop.\"Order Line\" where order_id = ?", nodeIndex * 1_000_000L + r.nextInt((int) Math.max(1, n)));
                } else {
                    exec(c, "insert into shop.customer (id, name, city) values (?, ?, ?)", UUID.randomUUID(), "New on " + node, node);
                }
                n++;
            }
        }
        return n;
    }

    private static void exec(Connection c, String sql, Object... args) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                ps.setObject(i + 1, args[i]);
            }
            ps.executeUpdate();
        }
    }
}
