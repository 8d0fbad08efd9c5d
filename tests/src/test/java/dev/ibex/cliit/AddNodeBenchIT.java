package dev.ibex.cliit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The opt-in bench workload N1 (adding a node while writes continue) at a tiny size: it exits 0
 * and reports its three figures, each positive and the copy no longer than the whole. It asserts
 * nothing about speed.
 */
class AddNodeBenchIT {
    @Test
    void n1AddsANodeAndReportsItsFigures(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("bench.json");
        IbexCli.Result r = IbexCli.run("bench", "--rows", "2000", "--runs", "1", "--workloads", "N1", "--json-out", json.toString());
        assertEquals(0, r.code(), () -> "the bench exits 0: " + r);
        assertEquals("", r.err(), () -> "nothing on standard error: " + r);
        JsonNode doc = IbexCli.parseJson(Files.readString(json));
        assertEquals(2000, doc.path("settings").path("n1Rows").asLong(), () -> "--rows is N1's table size: " + doc);
        List<String> names = new ArrayList<>();
        for (JsonNode result : doc.path("results")) {
            names.add(result.path("name").asText());
            assertTrue(result.path("median").asDouble() > 0, () -> "a positive value in " + result);
        }
        assertEquals(List.of("N1 add node, until equal", "N1 add-node command", "N1 copy alone"), names, doc::toString);
        assertTrue(figure(doc, "N1 copy alone") <= figure(doc, "N1 add-node command")
                && figure(doc, "N1 add-node command") <= figure(doc, "N1 add node, until equal"), doc::toString);
    }

    private static double figure(JsonNode doc, String name) {
        for (JsonNode result : doc.path("results")) {
            if (result.path("name").asText().equals(name)) {
                return result.path("median").asDouble();
            }
        }
        throw new AssertionError("no figure " + name + " in " + doc);
    }
}
