package dev.ibex.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.ProcessBuilder.Redirect;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A throw-away certificate authority and a server certificate it signed, made with the
 * {@code openssl} command at test time, for PostgreSQL servers with TLS on (see
 * {@link PgServer#enableTls}). The server certificate names only the IP address 127.0.0.1, so a
 * client that verifies host names accepts {@code 127.0.0.1} and refuses {@code localhost}. A
 * second, unrelated authority ({@link #otherCa()}) plays a wrong root certificate.
 *
 * @param dir      the directory holding every file
 * @param ca       the authority's certificate (PEM), the root a client trusts
 * @param otherCa  another authority's certificate, which did not sign the server's
 * @param cert     the server certificate (PEM)
 * @param key      the server's private key (PEM, unencrypted)
 */
public record TestCertificates(Path dir, Path ca, Path otherCa, Path cert, Path key) {
    private static final long TIMEOUT_SECONDS = 60;

    /** Generates a new authority, server certificate and second authority in {@code dir}. */
    public static TestCertificates create(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + dir, e);
        }
        TestCertificates c = new TestCertificates(dir, dir.resolve("ca.crt"), dir.resolve("other-ca.crt"),
                dir.resolve("server.crt"), dir.resolve("server.key"));
        authority(dir, "ca", "Ibex Test CA");
        authority(dir, "other-ca", "Ibex Unrelated CA");
        Path ext = write(dir.resolve("server.ext"), "subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\n"
                + "keyUsage = digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\n");
        openssl(dir, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-subj", "/CN=127.0.0.1",
                "-out", "server.csr");
        openssl(dir, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-sha256", "-extfile", ext.getFileName().toString(), "-out", "server.crt");
        return c;
    }

    private static void authority(Path dir, String name, String commonName) {
        openssl(dir, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".crt",
                "-days", "2", "-sha256", "-subj", "/CN=" + commonName,
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
    }

    private static Path write(Path file, String text) {
        try {
            return Files.writeString(file, text, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    private static void openssl(Path dir, String... args) {
        List<String> command = new ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        Path log = dir.resolve("openssl.log");
        try {
            Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                    .redirectOutput(Redirect.appendTo(log.toFile())).start();
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS) || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new IllegalStateException("openssl failed: " + String.join(" ", command) + "\n"
                        + Files.readString(log, StandardCharsets.UTF_8));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run openssl (is it installed?): " + String.join(" ", command), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running openssl", e);
        }
    }
}
