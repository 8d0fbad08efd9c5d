package dev.ibex.cli;

import dev.ibex.engine.config.ControlStore;
import dev.ibex.engine.install.SyncInstaller;
import dev.ibex.engine.db.NodeDirectory;

/** The control store and node pools one command uses, closed together. */
final class Session implements AutoCloseable {
    final ControlStore control;
    final NodeDirectory nodes;

    Session(ControlOptions options) {
        this.control = options.open();
        this.nodes = new NodeDirectory(control.nodes()::get);
    }

    SyncInstaller installer() {
        return new SyncInstaller(control, nodes);
    }

    @Override
    public void close() {
        nodes.close();
        control.close();
    }
}
