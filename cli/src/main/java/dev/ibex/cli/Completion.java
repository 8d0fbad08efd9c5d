package dev.ibex.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.AutoComplete;

/**
 * Writes the bash/zsh completion script at build time from the same command line {@code ibex}
 * runs (so options that {@link Cli#commandLine()} removes, like {@code --control} after
 * {@code demo}, are not offered).
 */
public final class Completion {
    private Completion() {
    }

    /** @param args the script's path */
    public static void main(String[] args) throws IOException {
        Files.writeString(Path.of(args[0]), AutoComplete.bash("ibex", Cli.commandLine()), StandardCharsets.UTF_8);
    }
}
