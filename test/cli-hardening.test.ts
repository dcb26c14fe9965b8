// Issue 14 item 8: one JSON error shape for every command, warnings kept in --json, push's payload
// from a file or standard input, uninstall's word about a pi session that keeps consuming, stale
// heartbeats not handed over late, and no old password left among the backups. Also: a Redis URL
// that reaches another service (a web server) is named as such by push and setup.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, inject, it } from "vitest";
import type { FileStep } from "../src/core/plan.ts";
import { applyPlan } from "../src/install/apply.ts";
import { createEvent, MAX_EVENT_BYTES } from "../src/runtime/protocol/event.ts";
import { sessionKeys } from "../src/runtime/protocol/keys.ts";
import { pushToSession } from "../src/runtime/protocol/push.ts";
import { claimSession, newOwner } from "../src/runtime/protocol/sessions.ts";
import { loadInstalledExtension, VerificationHost } from "../src/verify/host.ts";
import { createSandbox, runCli } from "./helpers/cli.ts";
import { createExtensionDir, randomPrefix } from "./helpers/extension-dir.ts";
import { installTier1 } from "./helpers/install.ts";
import { asWebServer, hangingUp, startNotRedis } from "./helpers/not-redis.ts";
import { expectSchema } from "./helpers/schema.ts";

const redisUrl = inject("redisUrl");
const redis = new Redis(redisUrl);
const temps: string[] = [];
afterAll(() => redis.disconnect());
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** every file below `dir`, recursively */
const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)]));

describe("--json failures", () => {
  it("take one shape in every command: { ok: false, error: { message, fix? } }", async () => {
    const sandbox = createSandbox();
    const manifest = join(sandbox.home, ".pi/agent/gateway/manifest.json");
    mkdirSync(join(sandbox.home, ".pi/agent/gateway"), { recursive: true });
    writeFileSync(manifest, "{ truncated");
    for (const args of [
      ["doctor", "--json"],
      ["status", "--json"],
      ["uninstall", "--yes", "--json"],
      ["push", "x", "--json", "--payload", "[1]"],
    ]) {
      const result = await runCli(args, { env: sandbox.env });
      const report = JSON.parse(result.stdout);
      expectSchema("error-report.schema.json", report);
      expect(report.ok, args.join(" ")).toBe(false);
      if (args[0] !== "push") expect(report.error.fix, args.join(" ")).toContain(`mv ${manifest} ${manifest}.broken`);
    }
    for (const args of [
      ["doctor", "--bogus", "--json"],
      ["push", "--json"],
      ["--json", "--bogus"],
    ]) {
      const result = await runCli(args, { env: sandbox.env });
      expect(result.code).toBe(2);
      expectSchema("error-report.schema.json", JSON.parse(result.stdout));
    }
  });

  it("keep the warnings a person would have seen, e.g. about a password in --redis-url", async () => {
    const sandbox = createSandbox();
    const url = new URL(redisUrl);
    const result = await runCli(["--tier", "1", "--dry-run", "--json", "--redis-url", `redis://:hunter2@${url.host}`], { env: sandbox.env });
    const report = JSON.parse(result.stdout);
    expectSchema("setup-report.schema.json", report);
    expect(report.warnings).toEqual(expect.arrayContaining([expect.stringContaining("The password in --redis-url is visible to other users")]));
    expect(result.stdout).not.toContain("hunter2");
  });
});

describe("push", () => {
  it("takes the payload from --payload-file or from standard input (--payload -), up to the 256 KB an event may be", async () => {
    const sandbox = createSandbox();
    const prefix = randomPrefix();
    const big = { blob: "x".repeat(200 * 1024) };
    const file = join(sandbox.home, "payload.json");
    writeFileSync(file, JSON.stringify(big));
    const base = ["--redis-url", redisUrl, "--prefix", prefix, "--json"];
    const fromFile = await runCli(["push", "job.done", "--payload-file", file, "--id", "f1", ...base], { env: sandbox.env });
    expect(fromFile.code, fromFile.stdout + fromFile.stderr).toBe(0);
    const fromStdin = await runCli(["push", "job.done", "--payload", "-", "--id", "s1", ...base], {
      env: sandbox.env,
      input: JSON.stringify({ via: "stdin" }),
    });
    expect(fromStdin.code, fromStdin.stdout + fromStdin.stderr).toBe(0);
    const queued = (await redis.lrange(sessionKeys(prefix, "main").events, 0, -1)).map((raw) => JSON.parse(raw));
    expect(queued.map((event) => [event.id, event.payload])).toEqual([
      ["s1", { via: "stdin" }],
      ["f1", big],
    ]);

    writeFileSync(file, JSON.stringify({ blob: "x".repeat(MAX_EVENT_BYTES) }));
    const tooBig = await runCli(["push", "job.done", "--payload-file", file, ...base], { env: sandbox.env });
    expect(tooBig.code).toBe(2);
    expect(JSON.parse(tooBig.stdout).error.message).toContain(`larger than the ${MAX_EVENT_BYTES} bytes an event may be`);
    const both = await runCli(["push", "job.done", "--payload-file", file, "--payload", "{}", ...base], { env: sandbox.env });
    expect(JSON.parse(both.stdout).error.message).toBe("give --payload or --payload-file, not both");
  });
});

describe("a Redis URL that reaches another service", () => {
  it("push and setup say what answered there, and setup installs nothing and says how to check the address", async () => {
    const web = await startNotRedis(asWebServer);
    const silentHangUp = await startNotRedis(hangingUp);
    try {
      const sandbox = createSandbox();
      const notRedis = `something other than Redis answered at 127.0.0.1:${web.port}: its reply began "HTTP/1.1 400 Bad Request".`;
      const pushed = await runCli(["push", "job.done", "--redis-url", web.url], { env: sandbox.env });
      expect({ code: pushed.code, stderr: pushed.stderr }).toEqual({ code: 1, stderr: `gateway-setup push: ${notRedis}\n` });
      // a service that hangs up after the connection was made is named too, not only "Connection is closed."
      const hungUp = await runCli(["push", "job.done", "--redis-url", silentHangUp.url], { env: sandbox.env });
      expect(hungUp.code).toBe(1);
      expect(hungUp.stderr).toContain(`127.0.0.1:${silentHangUp.port}`);
      expect(hungUp.stderr).toMatch(/^gateway-setup push: .*(Connection is closed|ECONNRESET)/);

      const setup = await runCli(["--tier", "1", "--yes", "--json", "--redis-url", web.url], { env: sandbox.env });
      expect(setup.code).toBe(1);
      expect(JSON.parse(setup.stdout).error).toEqual({
        message: notRedis,
        fix: `check that a Redis server (not another service) listens at 127.0.0.1:${web.port}: redis-cli -u ${web.url} PING`,
      });
      expect(readdirSync(sandbox.home)).toEqual([]);
    } finally {
      await Promise.all([web.close(), silentHangUp.close()]);
    }
  });
});

describe("uninstall", () => {
  it("warns that a pi session live on the queue keeps consuming until it exits", async () => {
    const { env, plan, home } = await installTier1(redisUrl);
    temps.push(home);
    // a pi with the extension loaded holds the queue: this very process, alive
    const claim = await claimSession(redis, plan.settings.prefix, "main", 60, newOwner(Date.now()));
    expect(claim.ok).toBe(true);
    const result = await runCli(["uninstall", "--yes", "--json"], { env: { ...env, TMPDIR: tmpdir() } });
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.warnings).toEqual([
      expect.stringMatching(new RegExp(`^a pi session is live on queue "main" \\(pid ${process.pid} on .*keeps consuming events until it exits`)),
    ]);
    expect(result.stderr).toContain("keeps consuming events until it exits");
  });
});

describe("a changed Redis password", () => {
  it("is written over the old one, and the old one is not kept among the backups", async () => {
    const { env, plan, home } = await installTier1(redisUrl);
    temps.push(home);
    const secretsFile = join(plan.settings.stateDir, "secrets.env");
    const secret = (password: string): FileStep => ({
      kind: "file",
      component: "redis",
      description: "the Redis password",
      path: secretsFile,
      contents: `GATEWAY_REDIS_PASSWORD=${password}\n`,
      mode: 0o600,
      secret: true,
    });
    for (const password of ["old-password", "new-password"]) {
      await applyPlan({ ...plan, steps: [secret(password)] }, { env, invocation: "test", waitForRedis: async () => {} });
    }
    expect(readFileSync(secretsFile, "utf8")).toBe("GATEWAY_REDIS_PASSWORD=new-password\n");
    expect(statSync(secretsFile).mode & 0o777).toBe(0o600);
    const leftovers = filesUnder(plan.settings.stateDir).filter((path) => readFileSync(path, "utf8").includes("old-password"));
    expect(leftovers).toEqual([]);
  });
});

describe("the central session", () => {
  it("drops a heartbeat older than one interval (left by an earlier install) and takes the next fresh one", async () => {
    const prefix = randomPrefix();
    const dir = mkdtempSync(join(tmpdir(), "gw-stale-hb-"));
    temps.push(dir);
    const checklistFile = join(dir, "HEARTBEAT.md");
    writeFileSync(checklistFile, "- [ ] all fine\n");
    const intervalSeconds = 60;
    const heartbeat = (id: string, ts: number) => createEvent({ id, type: "cron.heartbeat", source: "cron", ts });
    // queued ten minutes ago, before this session existed
    await pushToSession(redis, { prefix, sessionId: "gateway", event: heartbeat("stale", Date.now() - 10 * 60_000) });
    await pushToSession(redis, { prefix, sessionId: "gateway", event: createEvent({ id: "deploy", type: "deploy.done", source: "ci" }) });
    const mod = await loadInstalledExtension(createExtensionDir({ prefix, redisUrl }));
    const host = new VerificationHost();
    const lastHeartbeatFile = join(dir, "state/last-heartbeat.json");
    const config = {
      ...mod.gatewayConfig,
      mode: "central" as const,
      sessionId: "gateway",
      pollIntervalMs: 500,
      heartbeat: { intervalSeconds, checklistFile, lastHeartbeatFile, graceSeconds: intervalSeconds },
    };
    await host.load(mod.createGatewayExtension(config, { GATEWAY_ROLE: "central" }));
    try {
      await host.startSession();
      await host.waitFor(() => host.sent.length === 1, 10_000, "the first batch");
      expect(host.sent[0]!.text).toContain("deploy.done from ci · id deploy");
      expect(host.sent[0]!.text).not.toContain("heartbeat");
      expect(host.notices.some((n) => /dropped 1 heartbeat\(s\) pushed up to 10 min ago/.test(n.message))).toBe(true);
      await pushToSession(redis, { prefix, sessionId: "gateway", event: heartbeat("fresh", Date.now()) });
      await host.waitFor(() => host.sent.length === 2, 10_000, "the fresh heartbeat");
      expect(host.sent[1]!.text).toContain("[gateway] heartbeat from cron");
      expect(await redis.llen(sessionKeys(prefix, "gateway").events)).toBe(0);
    } finally {
      await host.shutdown();
    }
  });
});
