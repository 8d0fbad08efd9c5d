package dev.ibex.cli;

import dev.ibex.engine.UsageException;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.config.NodeSettings;
import dev.ibex.engine.status.NodeProbe;
import java.io.PrintWriter;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "node", mixinStandardHelpOptions = true, description = "Add, list, remove and check nodes.",
        subcommands = {NodeCommand.Add.class, NodeCommand.ListNodes.class, NodeCommand.Remove.class, NodeCommand.Check.class})
final class NodeCommand {

    @Command(name = "add", mixinStandardHelpOptions = true,
            description = "Register a node; it must be reachable with the given URL and password.")
    static final class Add implements Callable<Integer> {
        @Mixin
        ControlOptions control;
        @Spec
        CommandSpec spec;
        @Parameters(paramLabel = "NAME", description = "Node name (letters, digits, _ - .).")
        String name;
        @Option(names = "--url", required = true, paramLabel = "JDBC_URL", description = "jdbc:postgresql://HOST:PORT/DATABASE?user=USER")
        String url;
        @Option(names = "--password-env", paramLabel = "VAR", description = "Environment variable holding the node's password.")
        String passwordEnv;

        @Override
        public Integer call() {
            NodeSettings n = new NodeSettings(name, url, passwordEnv);
            n.requireNoPasswordInUrl();
            try (ControlStore c = control.open()) {
                if (c.nodes().stream().anyMatch(x -> x.name().equals(name))) {
                    throw new UsageException("node " + name + " exists already; remove it first or pick another name");
                }
                NodeProbe.Report r = NodeProbe.probe(n, Clock.systemUTC());
                if (!r.reachable()) {
                    throw new UsageException(r.error().replaceAll("\\.$", "") + "; node not added");
                }
                c.addNode(n);
                spec.commandLine().getOut().println("node " + name + " added (PostgreSQL " + r.serverVersion() + ", user " + r.user() + ")");
                return Cli.OK;
            }
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List nodes.")
    static final class ListNodes implements Callable<Integer> {
        @Mixin
        ControlOptions control;
        @Spec
        CommandSpec spec;
        @Option(names = "--json", description = "Print JSON.")
        boolean json;

        @Override
        public Integer call() {
            try (ControlStore c = control.open()) {
                List<NodeSettings> nodes = c.nodes();
                PrintWriter out = spec.commandLine().getOut();
                if (json) {
                    Output.json(out, nodes.stream().map(n -> Map.of("name", n.name(), "url", n.redactedUrl(),
                            "passwordEnv", n.passwordEnv() == null ? "" : n.passwordEnv())).toList());
                } else {
                    Output.table(out, List.of("NODE", "URL", "PASSWORD ENV"),
                            nodes.stream().map(n -> Output.row(n.name(), n.redactedUrl(), n.passwordEnv())).toList());
                }
                return Cli.OK;
            }
        }
    }

    @Command(name = "remove", mixinStandardHelpOptions = true, description = "Remove a node that is in no sync.")
    static final class Remove implements Callable<Integer> {
        @Mixin
        ControlOptions control;
        @Spec
        CommandSpec spec;
        @Parameters(paramLabel = "NAME")
        String name;

        @Override
        public Integer call() {
            try (ControlStore c = control.open()) {
                c.removeNode(name);
                spec.commandLine().getOut().println("node " + name + " removed");
                return Cli.OK;
            }
        }
    }

    @Command(name = "check", mixinStandardHelpOptions = true,
            description = "Check a node: reachable, PostgreSQL version, privileges, clock skew. Exit 1 if unreachable.")
    static final class Check implements Callable<Integer> {
        @Mixin
        ControlOptions control;
        @Spec
        CommandSpec spec;
        @Parameters(paramLabel = "NAME")
        String name;
        @Option(names = "--json", description = "Print JSON.")
        boolean json;

        @Override
        public Integer call() {
            try (ControlStore c = control.open()) {
                NodeProbe.Report r = NodeProbe.probe(c.node(name), Clock.systemUTC());
                PrintWriter out = spec.commandLine().getOut();
                if (json) {
                    Output.json(out, r);
                } else if (!r.reachable()) {
                    out.println("node " + name + ": UNREACHABLE: " + r.error());
                } else {
                    Output.table(out, List.of("CHECK", "RESULT"), List.of(
                            Output.row("reachable", "yes"),
                            Output.row("PostgreSQL", r.serverVersion() + (r.versionNum() < 150000 ? " (15 or later recommended)" : "")),
                            Output.row("user", r.user() + (r.superuser() ? " (superuser; not required)" : "")),
                            Output.row("can create the ibex schema", r.canCreateSchema() ? "yes" : "NO: grant CREATE on the database"),
                            Output.row("can set session_replication_role", r.canSetReplicationRole() ? "yes"
                                    : "NO: GRANT SET ON PARAMETER session_replication_role TO " + r.user()),
                            Output.row("clock skew", r.clockSkewMillis() + " ms")));
                }
                return r.reachable() ? Cli.OK : Cli.FAILED;
            }
        }
    }
}
