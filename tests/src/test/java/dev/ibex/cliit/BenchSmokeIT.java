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
 * settings (PostgreSQL's fsync and synchronous_commit defaults unless {@code --fsync off}) and,
 * for every requested workload, figures with numeric median, min and max, the W1 and W2 figures
 * each positive. It asserts nothing about speed.
 */
class BenchSmokeIT {
    private static final List<String> W1_W2 = List.of("W1 bulk 1 tx", "W1 bulk 10 tx", "W1 wide 1 tx", "W1 wide MB/s",
            "W2 tps no capture", "W2 tps capture, engine stopped", "W2 tps capture+engine",
            "W2 update all no capture", "W2 update all capture", "W2 insert-select no capture", "W2 insert-select capture",
            "W2 copy no capture", "W2 copy capture");

    @Test
    void benchRunsEveryWorkloadAndWritesTheFigures(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("bench.json");
        IbexCli.Result r = IbexCli.run("bench", "--rows", "2000", "--seconds", "2", "--runs", "1",
                "--workloads", "B0,W1,W2,W3,W4,W5", "--json-out", json.toString());
        assertEquals(0, r.code(), () -> "the bench exits 0: " + r);
        assertEquals("", r.err(), () -> "nothing on standard error: " + r);
        JsonNode doc = IbexCli.parseJson(Files.readString(json));
        assertTrue(doc.path("machine").path("cores").isInt(), () -> "the machine is described: " + doc);
        assertTrue(doc.path("machine").path("postgres").isTextual(), () -> "the PostgreSQL version is given: " + doc);
        JsonNode server = doc.path("settings").path("server");
        assertEquals("on", server.path("fsync").asText(), () -> "PostgreSQL's default fsync: " + doc);
        assertEquals("on", server.path("synchronous_commit").asText(), () -> "PostgreSQL's default synchronous_commit: " + doc);
        List<String> names = new ArrayList<>();
        for (JsonNode result : doc.path("results")) {
            names.add(result.path("name").asText());
            if (W1_W2.contains(result.path("name").asText())) {
                assertTrue(result.path("median").asDouble() > 0, () -> "a positive value in " + result);
            }
            for (String field : List.of("median", "min", "max")) {
                assertTrue(result.path(field).isNumber(), () -> field + " is a number in " + result);
            }
            assertEquals(1, result.path("runs").size(), () -> "one value per run in " + result);
        }
        assertTrue(names.contains("W5 write+wait 1, 2 masters median") && names.contains("W5 write+wait all 4, 5 masters p99"),
                () -> "W5 is reported for 2 to 5 masters: " + names);
        assertEquals(0, figure(doc, "W5 waits that fell short").path("median").asInt(),
                () -> "with the engine running, every wait saw its change applied on the nodes it asked for: " + doc);
        for (String workload : List.of("B0", "W1", "W2", "W3", "W4", "W5")) {
            assertTrue(names.stream().anyMatch(n -> n.startsWith(workload + " ")), () -> workload + " is reported: " + names);
        }
        assertTrue(names.contains("W3 sustained rate") && names.contains("W3 lag p99 at 1000/s"),
                () -> "the W3 rate sweep is reported: " + names);
        assertTrue(names.containsAll(W1_W2), () -> "every W1 and W2 figure is reported: " + names);
        for (String captured : List.of("W2 tps capture, engine stopped", "W2 insert-select capture", "W2 copy capture")) {
            assertTrue(figure(doc, captured).path("ratio").isNumber(), () -> captured + " has a ratio to its baseline: " + doc);
        }
        assertTrue(doc.path("results").findValues("ratio").stream().anyMatch(JsonNode::isNumber),
                () -> "ratios to the baselines are given: " + doc);
    }

    @Test
    void schemaChangeWorkloadReportsEachChangesPauseAndCatchUp(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("bench.json");
        IbexCli.Result r = IbexCli.run("bench", "--rows", "200", "--runs", "1", "--workloads", "D1", "--json-out", json.toString());
        assertEquals(0, r.code(), () -> "the bench exits 0: " + r);
        JsonNode doc = IbexCli.parseJson(Files.readString(json));
        for (String change : List.of("add column", "rename column", "retype column")) {
            assertTrue(figure(doc, "D1 " + change + " paused").path("median").asDouble() > 0, () -> change + " paused the table: " + doc);
            assertTrue(figure(doc, "D1 " + change + " equal after").path("median").isNumber(), () -> change + " caught up: " + doc);
        }
    }

    @Test
    void fsyncOffTurnsOffFsyncAndSynchronousCommit(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("bench.json");
        IbexCli.Result r = IbexCli.run("bench", "--rows", "2000", "--runs", "1", "--workloads", "B0", "--fsync", "off",
                "--json-out", json.toString());
        assertEquals(0, r.code(), () -> "the bench exits 0: " + r);
        JsonNode server = IbexCli.parseJson(Files.readString(json)).path("settings").path("server");
        assertEquals("off", server.path("fsync").asText(), () -> "fsync: " + server);
        assertEquals("off", server.path("synchronous_commit").asText(), () -> "synchronous_commit: " + server);
    }

    @Test
    void fsyncTakesOnlyOnOrOff() {
        IbexCli.Result r = IbexCli.run("bench", "--fsync", "maybe", "--workloads", "B0");
        assertEquals(2, r.code(), () -> "exit 2 for bad usage: " + r);
        assertTrue(r.err().contains("--fsync must be on or off"), () -> "the error names the option: " + r);
    }

    private static JsonNode figure(JsonNode doc, String name) {
        for (JsonNode result : doc.path("results")) {
            if (result.path("name").asText().equals(name)) {
                return result;
            }
        }
        throw new AssertionError("no figure " + name + " in " + doc);
    }
}
