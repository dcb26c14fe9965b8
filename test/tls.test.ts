// rediss:// end to end: a real TLS redis-server with a test CA, trusted via NODE_EXTRA_CA_CERTS.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { createSandbox, runCli } from "./helpers/cli.ts";
import { freePort, requireBinary } from "./helpers/redis-server.ts";
import { waitFor } from "./helpers/wait.ts";

function makeCertificates(dir: string): void {
  const openssl = (...args: string[]) => {
    const result = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
    if (result.status !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr}`);
  };
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=gateway-test-ca");
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  openssl(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.crt",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  );
}

describe("rediss://", () => {
  it("against a plain Redis reports a TLS problem, not a missing Redis, and installs nothing", async () => {
    const sandbox = createSandbox();
    const record = join(sandbox.bin, "commands.log");
    for (const name of ["apt-get", "sudo", "brew"]) sandbox.standIn(name, `#!/bin/sh\necho "${name} $*" >> "${record}"\nexit 0\n`);
    const plain = new URL(inject("redisUrl"));
    const result = await runCli(["--tier", "1", "--yes", "--json", "--redis-url", `rediss://127.0.0.1:${plain.port}`], { env: sandbox.env });
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout).error.message).toMatch(/TLS handshake .* did not complete.*use redis:\/\/ instead of rediss:\/\//);
    expect(existsSync(record)).toBe(false);
  });

  it("installs and verifies against a TLS Redis", async () => {
    requireBinary("openssl");
    const dir = mkdtempSync(join(tmpdir(), "gw-tls-"));
    makeCertificates(dir);
    const port = await freePort();
    const server = spawn(
      "redis-server",
      [
        "--port",
        "0",
        "--tls-port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--tls-cert-file",
        "server.crt",
        "--tls-key-file",
        "server.key",
        "--tls-ca-cert-file",
        "ca.crt",
        "--tls-auth-clients",
        "no",
        "--save",
        "",
        "--dir",
        dir,
      ],
      { cwd: dir, stdio: "ignore" },
    );
    try {
      const ping = () => spawnSync("redis-cli", ["-p", String(port), "--tls", "--cacert", join(dir, "ca.crt"), "PING"], { encoding: "utf8" }).stdout.trim();
      await waitFor(() => ping() === "PONG", "the TLS redis-server to answer PING", 10_000);
      const sandbox = createSandbox();
      const url = `rediss://127.0.0.1:${port}`;
      const untrusted = await runCli(["--tier", "1", "--yes", "--json", "--no-install-redis", "--redis-url", url], { env: sandbox.env });
      expect(untrusted.code).toBe(1);
      expect(JSON.parse(untrusted.stdout).error.message).toMatch(/TLS connection .* failed .*certificate.*NODE_EXTRA_CA_CERTS/i);

      const result = await runCli(["--tier", "1", "--yes", "--json", "--redis-url", url], {
        env: { ...sandbox.env, NODE_EXTRA_CA_CERTS: join(dir, "ca.crt") },
      });
      expect(result.code, result.stdout + result.stderr).toBe(0);
      const report = JSON.parse(result.stdout);
      expect(report.plan.settings.redisUrl).toBe(url);
      expect(report.verification.slice(0, 2).map((c: { status: string }) => c.status)).toEqual(["ok", "ok"]);
    } finally {
      server.kill("SIGTERM");
    }
  });
});
