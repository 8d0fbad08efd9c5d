package dev.ibex.cli;

import dev.ibex.engine.UsageException;
import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.db.NodeSettings;
import dev.ibex.engine.copy.NodeCopier;
import dev.ibex.engine.copy.NodeResync;
import dev.ibex.engine.status.NodeProbe;
import java.io.PrintWriter;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "node", mixinStandardHelpOptions = true, description = "Add, list, remove, check and resync nodes.",
        subcommands = {NodeCommand.Add.class, NodeCommand.ListNodes.class, NodeCommand.Remove.class, NodeCommand.Check.class,
                NodeCommand.Resync.class})
final class NodeCommand {

    @Command(name = "add", mixinStandardHelpOptions = true,
            description = "Register a node; it must be reachable with the given URL and password.")
    static final class Add extends ControlCommand {
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
            try (ControlStore c = control().open()) {
                if (c.nodes().all().stream().anyMatch(x -> x.name().equals(name))) {
                    throw new UsageException("node " + name + " exists already; remove it first or pick another name");
                }
                NodeProbe.Report r = NodeProbe.probe(n, Clock.systemUTC());
                if (!r.reachable()) {
                    throw new UsageException(r.error().replaceAll("\\.$", "") + "; node not added");
                }
                if (r.versionNum() < NodeProbe.OLDEST_SUPPORTED) {
                    throw new UsageException("node " + name + " runs PostgreSQL " + r.serverVersion()
                            + "; Ibex needs PostgreSQL 13 or later (see docs/postgresql-versions.md); node not added");
                }
                c.nodes().add(n);
                out().println("node " + name + " added (PostgreSQL " + r.serverVersion() + ", user " + r.user() + ")");
                return Cli.OK;
            }
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List nodes.")
    static final class ListNodes extends ControlCommand {
        @Mixin
        JsonOption json;

        @Override
        public Integer call() {
            try (ControlStore c = control().open()) {
                List<NodeSettings> nodes = c.nodes().all();
                PrintWriter out = out();
                if (json.requested) {
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
    static final class Remove extends ControlCommand {
        @Parameters(paramLabel = "NAME")
        String name;

        @Override
        public Integer call() {
            try (ControlStore c = control().open()) {
                c.nodes().remove(name);
                out().println("node " + name + " removed");
                return Cli.OK;
            }
        }
    }

    @Command(name = "check", mixinStandardHelpOptions = true,
            description = "Check a node: reachable, PostgreSQL version, privileges, clock skew. Exit 1 if unreachable.")
    static final class Check extends ControlCommand {
        @Parameters(paramLabel = "NAME")
        String name;
        @Mixin
        JsonOption json;

        @Override
        public Integer call() {
            try (ControlStore c = control().open()) {
                NodeProbe.Report r = NodeProbe.probe(c.nodes().get(name), Clock.systemUTC());
                PrintWriter out = out();
                if (json.requested) {
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
                                    : r.versionNum() < 150000 ? "NO: before PostgreSQL 15 only a superuser can; make " + r.user()
                                            + " a superuser or upgrade the node (docs/postgresql-versions.md)"
                                    : "NO: GRANT SET ON PARAMETER session_replication_role TO " + r.user()),
                            Output.row("clock skew", r.clockSkewMillis() + " ms")));
                }
                return r.reachable() ? Cli.OK : Cli.FAILED;
            }
        }
    }

    @Command(name = "resync", mixinStandardHelpOptions = true, description = {
            "Bring a node back by copying every table of its syncs, with ledgers and watermarks, from a healthy node.",
            "For a node that stayed away past the sync's --node-retention (status says 'needs resync') or whose database was rebuilt.",
            "Changes the node made while it was left out are DISCARDED: its rows become the healthy node's.",
            "All tables of a sync are copied from one snapshot in one transaction that holds them locked on the node; a failed copy"
                    + " changes nothing there and can be retried.",
            "Works while the engine runs: rounds leave the node out until the copy is done, then reconcile it.",
            "--json prints one entry per copied table."})
    static final class Resync extends ControlCommand {
        @Parameters(paramLabel = "NODE")
        String name;
        @Option(names = "--from", paramLabel = "NODE", description = "The healthy node to copy from (default: the first other node that answers).")
        String from;
        @Option(names = "--sync", paramLabel = "SYNC", description = "Only this sync (default: every sync the node is in).")
        String sync;
        @Mixin
        JsonOption json;

        @Override
        public Integer call() {
            try (Session s = new Session(control()); CopyProgress progress = new CopyProgress()) {
                List<NodeCopier.Copied> copied = new NodeResync(s.control, s.nodes).resync(name, sync, from, progress);
                PrintWriter out = out();
                if (json.requested) {
                    Output.json(out, copied);
                } else {
                    Output.table(out, List.of("SYNC", "TABLE", "FROM", "ROWS", "LEDGER ENTRIES"), copied.stream()
                            .map(c -> Output.row(c.sync(), c.table().toString(), c.from(), c.rows(), c.ledgerEntries())).toList());
                    out.println("node " + name + " resynced; the engine reconciles it from its next round");
                }
                return Cli.OK;
            }
        }
    }
}
