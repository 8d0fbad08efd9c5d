package dev.ibex.engine.copy;

import dev.ibex.engine.IbexException;
import dev.ibex.engine.config.TableRef;
import dev.ibex.engine.db.Idents;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * An order-independent fingerprint of a table's contents: the row count and the sum of a 60-bit
 * hash of each row's text form. Equal on two nodes when they hold the same rows (Ibex's sessions
 * use the same output settings everywhere, so the text forms compare).
 */
public record TableChecksum(long rows, String hash) {
    public static TableChecksum of(Connection c, String node, TableRef table) {
        String sql = "select count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint), 0)::text from "
                + Idents.name(table.schema(), table.name()) + " t";
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return new TableChecksum(rs.getLong(1), rs.getString(2));
        } catch (SQLException e) {
            throw new IbexException("node " + node + ", table " + table + ": checksum failed: " + e.getMessage(), e);
        }
    }
}
