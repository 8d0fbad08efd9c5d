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
 * {@code ibex bench} at tiny sizes: it exits 0 and writes a JSON document with the machine, the
 * settings and, for every requested workload, figures with numeric median, min and max. It
 * asserts nothing about speed.
 */
class BenchSmokeIT {
    @Test
    void benchRunsEveryWorkloadAndWritesTheFigures(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("bench.json");
        IbexCli.Result r = IbexCli.run("bench", "--rows", "2000", "--seconds", "2", "--runs", "1",
                "--workloads", "B0,W1,W2,W3,W4", "--json-out", json.toString());
        assertEquals(0, r.code(), () -> "the bench exits 0: " + r);
        assertEquals("", r.err(), () -> "nothing on standard error: " + r);
        JsonNode doc = IbexCli.parseJson(Files.readString(json));
        assertTrue(doc.path("machine").path("cores").isInt(), () -> "the machine is described: " + doc);
        assertTrue(doc.path("machine").path("postgres").isTextual(), () -> "the PostgreSQL version is given: " + doc);
        assertEquals("off", doc.path("settings").path("server").path("fsync").asText(), () -> "server settings: " + doc);
        List<String> names = new ArrayList<>();
        for (JsonNode result : doc.path("results")) {
            names.add(result.path("name").asText());
            for (String field : List.of("median", "min", "max")) {
                assertTrue(result.path(field).isNumber(), () -> field + " is a number in " + result);
            }
            assertEquals(1, result.path("runs").size(), () -> "one value per run in " + result);
        }
        for (String workload : List.of("B0", "W1", "W2", "W3", "W4")) {
            assertTrue(names.stream().anyMatch(n -> n.startsWith(workload + " ")), () -> workload + " is reported: " + names);
        }
        assertTrue(names.contains("W3 sustained rate") && names.contains("W3 lag p99 at 1000/s"),
                () -> "the W3 rate sweep is reported: " + names);
        assertTrue(doc.path("results").findValues("ratio").stream().anyMatch(JsonNode::isNumber),
                () -> "ratios to the baselines are given: " + doc);
    }
}
