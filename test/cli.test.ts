// The built CLI end to end, in a temp HOME, against the test run's real redis-server.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it, onTestFinished } from "vitest";
import { buildProgram } from "../src/cli/main.ts";
import { acrossLineBreaks, CLI, createSandbox, runCli, runningText } from "./helpers/cli.ts";
import { freePort, startRedisServer } from "./helpers/redis-server.ts";
import { expectSchema } from "./helpers/schema.ts";
import { startStallingRedis } from "./helpers/stalling-redis.ts";
import { snapshotTree } from "./helpers/tree.ts";
import { waitFor } from "./helpers/wait.ts";

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
    expect(runningText(result.stderr + result.stdout)).toMatch(message);
    expect(snapshotTree(sandbox.home)).toEqual({});
  });

  it("refuses to guess in a non-interactive terminal without --yes, naming the flags", async () => {
    const sandbox = createSandbox();
    const result = await runCli([], { env: sandbox.env });
    expect(result.code).toBe(2);
    expect(runningText(result.stderr + result.stdout)).toMatch(/not an interactive terminal.*--yes.*--tier 1/s);
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
    expect(result.stdout).toMatch(/new\s+~\/\.pi\/agent\/extensions\/gateway\/gateway-extension\.mjs \(644\)/);
    expect(result.stdout).not.toMatch(/npm install/);
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
    expect(existsSync(join(dir, "gateway-extension.mjs"))).toBe(true);
    expect(existsSync(join(dir, "node_modules"))).toBe(false);
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
    const said = runningText(result.stderr + result.stdout);
    expect(said).toMatch(new RegExp(`(could not|cannot) write .*${acrossLineBreaks(".pi/agent/extensions/gateway/")}`));
    expect(said).toMatch(/a file stands where gateway-setup needs a directory/);
    expect(said).toMatch(/Every change was rolled back/);
    expect(snapshotTree(sandbox.home)).toEqual(before);
  });

  it("fails fast with a fix when Redis is not there, and writes nothing", async () => {
    const sandbox = createSandbox();
    const port = await freePort();
    const started = Date.now();
    const result = await runCli(["--tier", "1", "--yes", "--no-install-redis", "--redis-url", `redis://127.0.0.1:${port}`], { env: sandbox.env });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(result.code).toBe(1);
    expect(runningText(result.stderr + result.stdout)).toMatch(new RegExp(`no Redis answered at 127.0.0.1:${port}`));
    expect(runningText(result.stderr + result.stdout)).toMatch(/apt-get install -y redis-server|brew install redis/);
    expect(snapshotTree(sandbox.home)).toEqual({});
  });

  it("reports a password-protected Redis, then stores the password only in a 0600 file", async () => {
    const secured = await startRedisServer({ password: "s3cr3t-pw" });
    try {
      const url = `redis://127.0.0.1:${secured.port}`;
      const sandbox = createSandbox();
      const refused = await runCli(["--tier", "1", "--yes", "--redis-url", url], { env: sandbox.env });
      expect(refused.code).toBe(1);
      expect(refused.stdout.match(/requires a password.*NOAUTH/g)).toHaveLength(1);
      expect(runningText(refused.stdout)).toMatch(/→ set GATEWAY_REDIS_PASSWORD/);
      expect(refused.stdout).not.toMatch(/password prompt/);
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

      // a re-run finds the stored password without GATEWAY_REDIS_PASSWORD
      const again = await runCli(["--tier", "1", "--yes", "--json", "--redis-url", url], { env: sandbox.env });
      expect(again.code, again.stdout).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ ok: true, changed: false });
    } finally {
      await secured.stop();
    }
  });

  it("never installs a package-manager Redis for a URL it would not serve (only redis://127.0.0.1:6379)", async () => {
    const sandbox = createSandbox();
    const port = await freePort();
    const record = join(sandbox.bin, "commands.log");
    for (const name of ["apt-get", "sudo", "service", "systemctl", "brew"]) sandbox.standIn(name, `#!/bin/sh\necho "${name} $*" >> "${record}"\nexit 0\n`);
    const result = await runCli(["--tier", "1", "--yes", "--redis-url", `redis://127.0.0.1:${port}`], { env: sandbox.env });
    expect(result.code).toBe(1);
    expect(existsSync(record)).toBe(false);
    expect(runningText(result.stdout)).toMatch(new RegExp(`no Redis answered at 127.0.0.1:${port}`));
    expect(runningText(result.stdout)).toMatch(/--redis-url redis:\/\/127.0.0.1:6379, where a package-manager Redis listens/);
    expect(snapshotTree(sandbox.home)).toEqual({});
  });

  it("asks for tier 4's bot token (never a flag) before looking for Redis", async () => {
    const sandbox = createSandbox();
    const result = await runCli(["--tier", "4", "--yes", "--redis-url", redisUrl], { env: sandbox.env });
    expect(result.code).toBe(2);
    expect(runningText(result.stdout + result.stderr)).toMatch(/tier 4 needs the Telegram bot token: set TELEGRAM_BOT_TOKEN/);
    expect(result.stdout).not.toMatch(/Checking Redis/);
    expect(snapshotTree(sandbox.home)).toEqual({});
  });

  it.each([
    [["--tier", "1", "--goal", "full-gateway"], /--tier 1 conflicts with --goal full-gateway/],
    [["--tier", "2", "--goal", "notifications"], /--tier 2 conflicts with --goal notifications/],
    [["--tier", "1", "--sessions", "several"], /--tier 1 conflicts with --sessions several/],
    [["--tier", "3", "--sessions", "one"], /--tier 3 conflicts with --sessions one/],
  ])("refuses conflicting flags %j with exit 2, naming both", async (args, message) => {
    const sandbox = createSandbox();
    const result = await runCli([...args, "--yes", "--redis-url", redisUrl], { env: sandbox.env });
    expect(result.code).toBe(2);
    expect(runningText(result.stdout)).toMatch(message);
    expect(snapshotTree(sandbox.home)).toEqual({});
  });

  it.each([[["--json", "--bogus"]], [["--json", "--scope", "nope"]], [["--json", "--dry-run", "--tier", "1", "--goal", "full-gateway"]]])(
    "a usage error with --json still prints one setup report: %j",
    async (args) => {
      const { env } = createSandbox();
      const result = await runCli(args, { env });
      expect(result.code).toBe(2);
      const report = JSON.parse(result.stdout);
      expectSchema("setup-report.schema.json", report);
      expect(report).toMatchObject({ ok: false, error: { message: expect.stringMatching(/--bogus|nope|conflicts/) } });
    },
  );

  it("--help describes the tool in running text, not a line broken mid-sentence", () => {
    expect(buildProgram().description()).not.toContain("\n");
  });
});

describe("gateway-setup interrupted", () => {
  it("rolls everything back on Ctrl-C (SIGINT) during verification and exits 130", async () => {
    const sandbox = createSandbox();
    const stalling = await startStallingRedis(redisUrl);
    onTestFinished(() => stalling.close());
    const before = snapshotTree(sandbox.home);
    const child = spawn(process.execPath, [CLI, "--tier", "1", "--yes", "--redis-url", stalling.url], { env: sandbox.env, cwd: sandbox.home, stdio: "pipe" });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    await waitFor(
      () => stalling.stalled(),
      () => `the installed extension to wait for its Redis; output so far: ${output}`,
      20_000,
    );
    child.kill("SIGINT");
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    expect(code, output).toBe(130);
    expect(output).toMatch(/cancelled; every change it made was rolled back/);
    expect(snapshotTree(sandbox.home)).toEqual(before);
  });
});

describe("routing's fallback after a change of tier", () => {
  it("setup points it at the installed session, so what an earlier tier-2 install left does not strand events; --purge-queues takes it away", async () => {
    const sandbox = createSandbox();
    const prefix = `t${Math.random().toString(36).slice(2, 8)}`;
    const { Redis } = await import("ioredis");
    const redis = new Redis(redisUrl);
    try {
      // as a central session of an earlier tier-2/3 install leaves it
      await redis.set(`${prefix}:gateway:default`, "gateway");
      const result = await runCli(["--tier", "1", "--yes", "--redis-url", redisUrl, "--prefix", prefix], { env: sandbox.env });
      expect(result.code, result.stdout).toBe(0);
      expect(runningText(result.stdout)).toContain(`then route events with no live target to "main" (${prefix}:gateway:default)`);
      expect(await redis.get(`${prefix}:gateway:default`)).toBe("main");
      const pushed = await runCli(["push", "job.done", "--json"], { env: sandbox.env });
      expect(JSON.parse(pushed.stdout).targets.map((t: { eventsKey: string }) => t.eventsKey)).toEqual([`${prefix}:events:main`]);
      expect((await runCli(["uninstall", "--yes", "--purge-queues"], { env: sandbox.env })).code).toBe(0);
      expect(await redis.exists(`${prefix}:gateway:default`)).toBe(0);
    } finally {
      redis.disconnect();
    }
  });
});

describe("setup over a damaged manifest", () => {
  it("says which file is damaged and how to recover, changes nothing, exit 1", async () => {
    const sandbox = createSandbox();
    const manifest = join(sandbox.home, ".pi/agent/gateway/manifest.json");
    mkdirSync(join(sandbox.home, ".pi/agent/gateway"), { recursive: true });
    writeFileSync(manifest, '{"tool": "gateway-setup", "formatVer');
    const before = snapshotTree(sandbox.home);
    const result = await runCli(["--tier", "1", "--yes", "--json", "--redis-url", redisUrl], { env: sandbox.env });
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report.error.message).toContain(`the install manifest ${manifest} is not valid JSON`);
    expect(report.error.fix).toContain(`mv ${manifest} ${manifest}.broken`);
    expect(snapshotTree(sandbox.home)).toEqual(before);
  });
});

describe("a database number in the Redis URL", () => {
  it("one Redis does not have fails before anything is written (ioredis would quietly use 0); a path that is no number is a usage error", async () => {
    const sandbox = createSandbox();
    const missing = await runCli(["--tier", "1", "--yes", "--json", "--redis-url", `${redisUrl}/99`], { env: sandbox.env });
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout).error.message).toMatch(/DB index is out of range/);
    const notANumber = await runCli(["--tier", "1", "--yes", "--json", "--redis-url", `${redisUrl}/queues`], { env: sandbox.env });
    expect(notANumber.code).toBe(2);
    expect(JSON.parse(notANumber.stdout).error.message).toMatch(/the path can only be a database number/);
    expect(snapshotTree(sandbox.home)).toEqual({});
  });
});

describe("flags that do not fit the tier", () => {
  it("--tier 1 --heartbeat cron is a usage error naming the flag, before anything happens", async () => {
    const sandbox = createSandbox();
    const result = await runCli(["--tier", "1", "--yes", "--json", "--redis-url", redisUrl, "--heartbeat", "cron"], { env: sandbox.env });
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout).error.message).toMatch(/^--heartbeat applies from tier 2 on, and this run installs tier 1/);
    expect(snapshotTree(sandbox.home)).toEqual({});
  });
});
