// The built CLI end to end, in a temp HOME, against the test run's real redis-server.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { CLI, createSandbox, runCli } from "./helpers/cli.ts";
import { freePort, startRedisServer } from "./helpers/redis-server.ts";
import { expectSchema } from "./helpers/schema.ts";
import { snapshotTree } from "./helpers/tree.ts";

const redisUrl = inject("redisUrl");

describe("gateway-setup CLI", () => {
  it("explains itself in --help", async () => {
    const { env } = createSandbox();
    const result = await runCli(["--help"], { env });
    expect(result.code).toBe(0);
    for (const flag of ["--tier", "--redis-url", "--yes", "--dry-run", "--json", "--scope", "--prefix"]) {
      expect(result.stdout).toContain(flag);
    }
  });

  it.each([
    [["--tier", "9", "--yes"], /--tier must be 1, 2, 3 or 4/],
    [["--bogus"], /unknown option '--bogus'/],
    [["--goal", "world-domination"], /--goal.*Allowed choices/],
    [["--redis-url", "http://localhost", "--yes"], /redis:\/\/ or rediss:\/\//],
  ])("rejects bad flags %j with exit 2 and changes nothing", async (args, message) => {
    const sandbox = createSandbox();
    const result = await runCli(args, { env: sandbox.env });
    expect(result.code).toBe(2);
    expect(result.stderr + result.stdout).toMatch(message);
    expect(snapshotTree(sandbox.home)).toEqual({});
  });

  it("refuses to guess in a non-interactive terminal without --yes, naming the flags", async () => {
    const sandbox = createSandbox();
    const result = await runCli([], { env: sandbox.env });
    expect(result.code).toBe(2);
    expect(result.stderr + result.stdout).toMatch(/not an interactive terminal.*--yes.*--tier 1/s);
    expect(snapshotTree(sandbox.home)).toEqual({});
  });

  it.each(["4"])("says tier %s is not available yet instead of falling back", async (tier) => {
    const sandbox = createSandbox();
    const result = await runCli(["--tier", tier, "--yes", "--redis-url", redisUrl], { env: sandbox.env });
    expect(result.code).toBe(2);
    expect(result.stderr + result.stdout).toMatch(new RegExp(`tier ${tier} .* is not available yet`));
    expect(snapshotTree(sandbox.home)).toEqual({});
  });

  it("--dry-run --json prints only the plan and touches nothing", async () => {
    const sandbox = createSandbox();
    const result = await runCli(["--tier", "1", "--dry-run", "--json", "--redis-url", redisUrl], { env: sandbox.env });
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expectSchema("setup-report.schema.json", report);
    expect(report).toMatchObject({ ok: true, dryRun: true, plan: { settings: { tier: 1, sessionId: "main" } } });
    expect(report.plan.steps.some((s: { path?: string }) => s.path === join(sandbox.home, ".pi/agent/extensions/gateway/index.ts"))).toBe(true);
    expect(report.applied).toBeUndefined();
    expect(snapshotTree(sandbox.home)).toEqual({});
  });

  it("--dry-run prints a readable plan", async () => {
    const sandbox = createSandbox();
    const result = await runCli(["--tier", "1", "--dry-run", "--redis-url", redisUrl], { env: sandbox.env });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/dry run: nothing will be changed/);
    expect(result.stdout).toMatch(/new\s+~\/\.pi\/agent\/extensions\/gateway\/index\.ts/);
    expect(result.stdout).toMatch(/npm install --omit=dev/);
    expect(snapshotTree(sandbox.home)).toEqual({});
  });

  it("installs tier 1 with --yes, verifies it, and a second run changes nothing", async () => {
    const sandbox = createSandbox();
    const first = await runCli(["--tier", "1", "--yes", "--json", "--redis-url", redisUrl, "--prefix", "clitest"], { env: sandbox.env });
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    const report = JSON.parse(first.stdout);
    expectSchema("setup-report.schema.json", report);
    expect(report.ok).toBe(true);
    expect(report.changed).toBe(true);
    expect(report.verification.map((c: { id: string; status: string }) => `${c.id}:${c.status}`)).toEqual([
      "redis-ping:ok",
      "extension-delivery:ok",
      "live-session:skip",
    ]);
    const dir = join(sandbox.home, ".pi/agent/extensions/gateway");
    expect(readFileSync(join(dir, "index.ts"), "utf8")).toContain(`prefix: "clitest"`);
    expect(existsSync(join(dir, "node_modules/ioredis/package.json"))).toBe(true);
    expect(existsSync(join(sandbox.home, ".pi/agent/gateway/manifest.json"))).toBe(true);

    const before = snapshotTree(sandbox.home);
    const second = await runCli(["--tier", "1", "--yes", "--json", "--redis-url", redisUrl, "--prefix", "clitest"], { env: sandbox.env });
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ ok: true, changed: false });
    expect(snapshotTree(sandbox.home)).toEqual(before);
  });

  it("explains an unwritable agent dir and leaves the home as it was", async () => {
    const sandbox = createSandbox();
    writeFileSync(join(sandbox.home, ".pi"), "a file where pi's directory should be");
    const before = snapshotTree(sandbox.home);
    const result = await runCli(["--tier", "1", "--yes", "--redis-url", redisUrl], { env: sandbox.env });
    expect(result.code).toBe(1);
    expect(result.stderr + result.stdout).toMatch(/could not write .*\.pi\/agent\/extensions\/gateway\/index\.ts/);
    expect(result.stderr + result.stdout).toMatch(/a file stands where gateway-setup needs a directory/);
    expect(result.stderr + result.stdout).toMatch(/Every change was rolled back/);
    expect(snapshotTree(sandbox.home)).toEqual(before);
  });

  it("fails fast with a fix when Redis is not there, and writes nothing", async () => {
    const sandbox = createSandbox();
    const port = await freePort();
    const started = Date.now();
    const result = await runCli(["--tier", "1", "--yes", "--no-install-redis", "--redis-url", `redis://127.0.0.1:${port}`], { env: sandbox.env });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(result.code).toBe(1);
    expect(result.stderr + result.stdout).toMatch(new RegExp(`no Redis answered at 127.0.0.1:${port}`));
    expect(result.stderr + result.stdout).toMatch(/apt-get install -y redis-server|brew install redis/);
    expect(snapshotTree(sandbox.home)).toEqual({});
  });

  it("reports a password-protected Redis, then stores the password only in a 0600 file", async () => {
    const secured = await startRedisServer({ password: "s3cr3t-pw" });
    try {
      const url = `redis://127.0.0.1:${secured.port}`;
      const sandbox = createSandbox();
      const refused = await runCli(["--tier", "1", "--yes", "--redis-url", url], { env: sandbox.env });
      expect(refused.code).toBe(1);
      expect(refused.stderr + refused.stdout).toMatch(/requires a password.*NOAUTH/);
      expect(snapshotTree(sandbox.home)).toEqual({});

      const ok = await runCli(["--tier", "1", "--yes", "--json", "--redis-url", url], { env: { ...sandbox.env, GATEWAY_REDIS_PASSWORD: "s3cr3t-pw" } });
      expect(ok.code).toBe(0);
      expectSchema("setup-report.schema.json", JSON.parse(ok.stdout));
      expect(ok.stdout).not.toContain("s3cr3t-pw");
      const secrets = join(sandbox.home, ".pi/agent/gateway/secrets.env");
      expect(statSync(secrets).mode & 0o777).toBe(0o600);
      expect(readFileSync(secrets, "utf8")).toContain("s3cr3t-pw");
      const tree = snapshotTree(sandbox.home);
      for (const path of Object.keys(tree).filter((p) => !p.endsWith("/") && !p.includes("node_modules") && !p.endsWith("secrets.env"))) {
        expect(readFileSync(join(sandbox.home, path), "utf8"), path).not.toContain("s3cr3t-pw");
      }
    } finally {
      await secured.stop();
    }
  });

  it("installs and starts Redis with the package manager when the user consents (--yes)", async () => {
    const sandbox = createSandbox();
    const port = await freePort();
    const record = join(sandbox.home, "..", `${sandbox.home.split("/").pop()}-commands.log`);
    const log = `echo "$(basename "$0") $*" >> "${record}"`;
    sandbox.standIn("apt-get", `#!/bin/sh\n${log}\necho "Reading package lists... Done"\nexit 0\n`);
    sandbox.standIn("sudo", `#!/bin/sh\n${log}\nexec "$@"\n`);
    const startRedis = `#!/bin/sh\n${log}\nexec redis-server --port ${port} --bind 127.0.0.1 --save '' --daemonize yes --logfile /dev/null\n`;
    sandbox.standIn("service", startRedis);
    sandbox.standIn("systemctl", startRedis);
    try {
      const result = await runCli(["--tier", "1", "--yes", "--json", "--redis-url", `redis://127.0.0.1:${port}`], { env: sandbox.env });
      expect(result.code, result.stdout + result.stderr).toBe(0);
      const commands = readFileSync(record, "utf8");
      expect(commands).toMatch(/apt-get update\n/);
      expect(commands).toMatch(/apt-get install -y redis-server\n/);
      expect(commands).toMatch(/(service redis-server start|systemctl start redis-server)\n/);
      expect(JSON.parse(result.stdout).verification[0]).toMatchObject({ id: "redis-ping", status: "ok" });
      expect(result.stderr).toContain("Reading package lists... Done");
    } finally {
      spawnSync("redis-cli", ["-p", String(port), "shutdown", "nosave"]);
    }
  });
});

describe("gateway-setup interrupted", () => {
  it("rolls everything back on Ctrl-C (SIGINT) during npm install and exits 130", async () => {
    const sandbox = createSandbox();
    const started = join(sandbox.bin, "npm-started");
    sandbox.standIn("npm", `#!/bin/sh\nmkdir -p node_modules/partial\ntouch "${started}"\nsleep 30\n`);
    const before = snapshotTree(sandbox.home);
    const child = spawn(process.execPath, [CLI, "--tier", "1", "--yes", "--redis-url", redisUrl], { env: sandbox.env, cwd: sandbox.home, stdio: "pipe" });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const deadline = Date.now() + 20_000;
    while (!existsSync(started) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(started), output).toBe(true);
    child.kill("SIGINT");
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    expect(code, output).toBe(130);
    expect(output).toMatch(/cancelled; every change it made was rolled back/);
    expect(snapshotTree(sandbox.home)).toEqual(before);
  });
});
