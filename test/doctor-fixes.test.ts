// doctor against broken and hung systems: one bounded Redis connection, repairs that keep the
// user's edits, fixes that match the problem, a JSON report that keeps its schema.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ioredisInstalled } from "../src/components/extension/render.ts";
import { redisFix } from "../src/components/redis/check.ts";
import { parseRedisUrl } from "../src/components/redis/url.ts";
import { rerunCommand } from "../src/components/rerun.ts";
import type { Manifest } from "../src/core/manifest.ts";
import { runDoctor } from "../src/doctor/run-doctor.ts";
import { aliveKey, sessionsRegistryKey } from "../src/runtime/protocol/keys.ts";
import { createSandbox, REPO_ROOT, runCli } from "./helpers/cli.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { installTemplate, installTier1 } from "./helpers/install.ts";
import { type RunningRedis, startRedisServer } from "./helpers/redis-server.ts";
import { expectSchema } from "./helpers/schema.ts";

const redisUrl = inject("redisUrl");

// one install (npm install included) for every test that only looks at one or breaks it; each
// test gets it back as new (see installTemplate)
let installed: Awaited<ReturnType<typeof installTemplate>>;
beforeAll(async () => {
  installed = await installTemplate(redisUrl);
});

describe("doctor with its own redis-server", () => {
  let server: RunningRedis;
  let installedHere: Awaited<ReturnType<typeof installTemplate>>;
  beforeAll(async () => {
    server = await startRedisServer();
    installedHere = await installTemplate(server.url);
  });
  afterAll(async () => {
    await server.stop();
  });
  const serverPid = () =>
    Number(/process_id:(\d+)/.exec(spawnSync("redis-cli", ["-p", String(server.port), "INFO", "server"], { encoding: "utf8" }).stdout)![1]);
  const connectionsReceived = () =>
    Number(/total_connections_received:(\d+)/.exec(spawnSync("redis-cli", ["-p", String(server.port), "INFO", "stats"], { encoding: "utf8" }).stdout)![1]);

  it("returns within its deadline, exit 1 and a fix, when Redis accepts connections but never answers", async () => {
    const { env } = await installedHere.fresh();
    // what the same run costs with Redis answering (node start-up, module loading: over a second on a
    // loaded 2-core machine), so the bound below is on what the hung Redis adds, not on the machine's speed
    const healthyStarted = Date.now();
    const healthy = await runCli(["doctor", "--json", "--skip", "pi"], { env, timeoutMs: 20_000 });
    const healthyElapsed = Date.now() - healthyStarted;
    expect(JSON.parse(healthy.stdout).checks[0]).toMatchObject({ id: "redis", status: "ok" });
    const pid = serverPid();
    process.kill(pid, "SIGSTOP");
    try {
      const started = Date.now();
      const result = await runCli(["doctor", "--json", "--skip", "pi"], { env, timeoutMs: 20_000 });
      const elapsed = Date.now() - started - healthyElapsed;
      expect(result.code).toBe(1);
      const redis = JSON.parse(result.stdout).checks[0];
      expect(redis).toMatchObject({ id: "redis", status: "fail" });
      expect(redis.fix).toMatch(/start Redis/);
      expect(elapsed).toBeLessThan(3000);
    } finally {
      process.kill(pid, "SIGCONT");
    }
  });

  it("uses one connection for the whole run, --fix and its second look included", async () => {
    const { env, plan } = await installedHere.fresh();
    rmSync(join(plan.settings.extensionDir, "gateway-extension.mjs"));
    const before = connectionsReceived();
    const result = await runCli(["doctor", "--fix", "--skip", "pi"], { env });
    // the second INFO is a connection of its own
    expect(connectionsReceived() - before - 1).toBe(1);
    expect(result.stdout).toMatch(/restored .*gateway-extension\.mjs/);
  });
});

describe("doctor repairs", () => {
  it("--fix backs up a hand-edited installed file before restoring it, and says where", async () => {
    const { env, plan } = await installed.fresh();
    const index = join(plan.settings.extensionDir, "index.ts");
    writeFileSync(index, "// my own tweak\n");
    const fixed = await runDoctor({ env, only: ["extension-files"], fix: true });
    expect(fixed.checks[0]!.status).toBe("ok");
    const result = fixed.repairs![0]!.result;
    const backup = /your edited copy is in (\S+)\)/.exec(result)![1]!.replace(/^~/, env.HOME);
    expect(readFileSync(backup, "utf8")).toBe("// my own tweak\n");
    expect(backup.startsWith(join(plan.settings.stateDir, "backups") + "/")).toBe(true);
    expect(readFileSync(index, "utf8")).toContain("createGatewayExtension");
  });

  it("--fix puts a secrets file opened up to others back to 0600, contents untouched", async () => {
    const server = await startRedisServer({ password: "mode-pw" });
    try {
      const { env, plan } = await installTier1(`redis://127.0.0.1:${server.port}`, { redisPassword: "mode-pw" });
      const secrets = join(plan.settings.stateDir, "secrets.env");
      const contents = readFileSync(secrets, "utf8");
      chmodSync(secrets, 0o644);
      const found = await runDoctor({ env, only: ["extension-files"] });
      expect(found.checks[0]).toMatchObject({ status: "fail", message: expect.stringContaining("secrets.env (mode)"), fix: "gateway-setup doctor --fix" });
      const fixed = await runDoctor({ env, only: ["extension-files"], fix: true });
      expect(fixed.checks[0]!.status).toBe("ok");
      expect(fixed.repairs![0]!.result).toContain("secrets.env (mode 600)");
      expect(statSync(secrets).mode & 0o777).toBe(0o600);
      expect(readFileSync(secrets, "utf8")).toBe(contents);
    } finally {
      await server.stop();
    }
  });

  it("finds a same-size edit made in place after the install, though the manifest's file signatures spare a healthy doctor the hashing", async () => {
    const sandbox = createSandbox();
    try {
      const setup = await runCli(["--tier", "1", "--yes", "--redis-url", redisUrl, "--prefix", randomPrefix()], { env: sandbox.env });
      expect(setup.code, setup.stderr).toBe(0);
      const manifest = JSON.parse(readFileSync(join(sandbox.home, ".pi/agent/gateway/manifest.json"), "utf8")) as Manifest;
      const bundle = manifest.files.find((file) => file.path.endsWith("gateway-extension.mjs"))!;
      expect(bundle.signature).toBeDefined();
      const deps = async () => JSON.parse((await runCli(["doctor", "--json", "--only", "extension-deps"], { env: sandbox.env })).stdout).checks[0];
      expect(await deps()).toMatchObject({ status: "ok" });
      const shipped = readFileSync(bundle.path, "utf8");
      writeFileSync(bundle.path, shipped.replace("gateway:", "gateway?"));
      expect(statSync(bundle.path)).toMatchObject({ size: bundle.signature!.size, ino: bundle.signature!.ino });
      expect(await deps()).toMatchObject({ status: "fail", message: expect.stringMatching(/differs from the one installed/) });
    } finally {
      rmSync(sandbox.home, { recursive: true, force: true });
    }
  });

  it("the bundle is read from disk each time: an edited one fails extension-deps, and --fix puts back the package's, keeping the edit", async () => {
    const { env, plan } = await installed.fresh();
    const bundle = join(plan.settings.extensionDir, "gateway-extension.mjs");
    const shipped = readFileSync(bundle, "utf8");
    const ioredis = JSON.parse(readFileSync(join(REPO_ROOT, "node_modules/ioredis/package.json"), "utf8")).version;
    expect(ioredisInstalled(plan.settings.extensionDir)).toBe(ioredis);
    expect((await runDoctor({ env, only: ["extension-deps"] })).checks[0]).toMatchObject({
      status: "ok",
      message: `gateway-extension.mjs is as installed (ioredis ${ioredis} bundled)`,
    });
    writeFileSync(bundle, shipped.replace("gateway:", "gateway?"));
    const found = await runDoctor({ env, only: ["extension-deps"] });
    expect(found.checks[0]).toMatchObject({ status: "fail", fix: "gateway-setup doctor --fix" });
    expect(found.checks[0]!.message).toMatch(/gateway-extension\.mjs differs from the one installed/);
    const fixed = await runDoctor({ env, only: ["extension-deps"], fix: true });
    expect(fixed.checks[0]!.status).toBe("ok");
    expect(fixed.repairs![0]!.result).toMatch(/^restored .*gateway-extension\.mjs \(your edited copy is in /);
    expect(readFileSync(bundle, "utf8")).toBe(shipped);
    rmSync(bundle);
    expect(ioredisInstalled(plan.settings.extensionDir)).toBeUndefined();
  });

  it("a check that throws still yields a schema-valid report with a fix", async () => {
    const { env, plan } = await installed.fresh();
    const index = join(plan.settings.extensionDir, "index.ts");
    rmSync(index);
    mkdirSync(index); // not a regular file: reading it throws inside the check
    const result = await runCli(["doctor", "--json", "--only", "extension-files"], { env });
    const report = JSON.parse(result.stdout);
    expectSchema("doctor-report.schema.json", report);
    expect(report.checks[0]).toMatchObject({ status: "fail", fix: "GATEWAY_SETUP_DEBUG=1 gateway-setup doctor --only extension-files" });
    expect(report.checks[0].message).toMatch(/the check itself failed/);
  });

  it("restores tier-2 files and reloads systemd after uninstall", async () => {
    const sandbox = createSandbox();
    const log = join(sandbox.bin, "calls.log");
    const env: Record<string, string> = {
      ...sandbox.env,
      PATH: `${sandbox.bin}:${join(REPO_ROOT, "node_modules/.bin")}:${process.env.PATH}`,
      PI_CODING_AGENT_DIR: join(sandbox.home, ".pi/agent"),
    };
    sandbox.standIn("systemctl", `#!/bin/sh\necho "systemctl $*" >> ${JSON.stringify(log)}\nexit 0\n`);
    env.GATEWAY_SETUP_TEST_SERVICE_MANAGER = "systemd";
    const install = await runCli(
      [
        "--tier",
        "2",
        "--yes",
        "--redis-url",
        redisUrl,
        "--prefix",
        randomPrefix(),
        "--service",
        "systemd",
        "--heartbeat",
        "systemd",
        "--heartbeat-every",
        "1m",
      ],
      { env },
    );
    expect(install.code, install.stdout + install.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(sandbox.home, ".pi/agent/gateway/manifest.json"), "utf8")) as Manifest;
    const serviceFiles = manifest.files.filter((f) => f.component === "service" && !f.createOnly).map((f) => f.path);
    expect(serviceFiles.length).toBeGreaterThan(1);
    for (const path of serviceFiles) rmSync(path);
    const broken = JSON.parse((await runCli(["doctor", "--json", "--only", "extension-files"], { env })).stdout);
    expect(broken.checks[0]).toMatchObject({ status: "fail", fix: "gateway-setup doctor --fix" });
    const fixed = JSON.parse((await runCli(["doctor", "--json", "--fix", "--only", "extension-files"], { env })).stdout);
    expect(fixed.checks[0]).toMatchObject({ status: "ok" });
    for (const path of serviceFiles) expect(existsSync(path), path).toBe(true);

    const uninstall = await runCli(["uninstall", "--yes"], { env });
    expect(uninstall.code, uninstall.stderr).toBe(0);
    const calls = readFileSync(log, "utf8").trim().split("\n");
    expect(calls.at(-1)).toBe("systemctl --user daemon-reload");
    const lastDisable = calls.map((call) => call.includes("disable --now")).lastIndexOf(true);
    expect(lastDisable).toBeGreaterThan(0);
    expect(calls.lastIndexOf("systemctl --user daemon-reload")).toBeGreaterThan(lastDisable);
  });
});

describe("doctor fixes and messages", () => {
  const manifestFor = (command: string, tier: 1 | 2): Manifest =>
    ({
      command,
      settings: {
        tier,
        redisUrl: "redis://127.0.0.1:6390",
        prefix: "agent",
        scope: "global",
        extensionDir: "/h/.pi/agent/extensions/gateway",
        ...(tier === 2
          ? {
              heartbeat: { source: "systemd", intervalSeconds: 900, checklistFile: "/h/.pi/agent/HEARTBEAT.md", lastHeartbeatFile: "/x" },
              service: { manager: "systemd", name: "dev.gateway-setup.pi-central", tmuxSession: "pi-central", wrapperPath: "/x" },
            }
          : {}),
      },
    }) as unknown as Manifest;

  it("gives each Redis problem its own fix, and re-run commands keep the installed tier", () => {
    const target = parseRedisUrl("redis://127.0.0.1:6390");
    const tier2 = manifestFor("gateway-setup", 2);
    const fixOf = (status: "unreachable" | "auth-required" | "auth-failed" | "error", message = "x") =>
      redisFix({ status, message }, { target, manifest: tier2 });
    expect(fixOf("unreachable")).toMatch(/^start Redis at 127\.0\.0\.1:6390/);
    expect(fixOf("auth-failed")).toMatch(
      /GATEWAY_REDIS_PASSWORD=<password> gateway-setup --tier 2 --yes .*--heartbeat systemd --heartbeat-every 15m .*--service systemd/,
    );
    expect(fixOf("auth-required")).not.toContain("--tier 1");
    expect(fixOf("error", "Redis at 127.0.0.1:6390 failed: Protocol error")).toMatch(/redis-cli -u redis:\/\/127\.0\.0\.1:6390 PING/);
    expect(fixOf("error", "the TLS connection to Redis failed")).toMatch(/NODE_EXTRA_CA_CERTS/);
    expect(new Set(["unreachable", "auth-failed", "error"].map((s) => fixOf(s as "error"))).size).toBe(3);
    expect(rerunCommand(manifestFor("gateway-setup --tier 2 --yes --heartbeat cron", 2))).toBe("gateway-setup --tier 2 --yes --heartbeat cron");
  });

  it("a check asked for by name that does not apply is reported as skipped, with why", async () => {
    const { env } = await installed.fresh();
    const result = await runCli(["doctor", "--json", "--only", "service"], { env });
    const report = JSON.parse(result.stdout);
    expect(report.checks).toEqual([{ id: "service", status: "skip", message: expect.stringMatching(/not part of this install \(tier 1\)/) }]);
    expect(result.code).toBe(0);
  });

  it("says what the session registry holds", async () => {
    const { env, plan } = await installed.fresh();
    const empty = await runDoctor({ env, only: ["sessions"] });
    expect(empty.checks[0]!.message).toMatch(/no session is registered/);
    const redis = new Redis(redisUrl);
    try {
      await redis.set(aliveKey(plan.settings.prefix, "pid-1"), "{}", "EX", 60);
      await redis.sadd(sessionsRegistryKey(plan.settings.prefix), "pid-1");
      const one = await runDoctor({ env, only: ["sessions"] });
      expect(one.checks[0]!.message).toMatch(/1 live session\(s\) registered \(pid-1\)/);
    } finally {
      redis.disconnect();
    }
  });

  it("names a corrupt manifest and what to do, without a stack trace", async () => {
    const { env, plan } = await installed.fresh();
    writeFileSync(plan.settings.manifestPath, readFileSync(plan.settings.manifestPath, "utf8").slice(0, 100));
    for (const command of [["status"], ["uninstall", "--yes"]]) {
      const result = await runCli(command, { env });
      expect(result.code, command.join(" ")).toBe(1);
      expect(result.stderr).toContain(`the install manifest ${plan.settings.manifestPath} is not valid JSON`);
      expect(result.stderr).toMatch(/fix: move it aside/);
      expect(result.stderr).not.toMatch(/^\s+at /m);
    }
  });
});

describe("uninstall when things are missing", () => {
  it("keeps a file whose backup is gone, warns, and removes everything else", async () => {
    const home = mkdtempSync(join(tmpdir(), "gw-nobackup-"));
    mkdirSync(join(home, ".pi/agent/extensions/gateway"), { recursive: true });
    writeFileSync(join(home, ".pi/agent/extensions/gateway/index.ts"), "// the user's own\n");
    const { env, plan } = await installTier1(redisUrl, {}, home);
    rmSync(join(plan.settings.stateDir, "backups"), { recursive: true });
    const result = await runCli(["uninstall", "--yes"], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/warning: kept .*index\.ts: the backup of what was there before .* is missing/);
    expect(readdirSync(plan.settings.extensionDir)).toEqual(["index.ts"]);
    expect(existsSync(plan.settings.manifestPath)).toBe(false);
  });

  it("--purge-queues with Redis down still uninstalls the files, says the queues stay, exit 1", async () => {
    const { env, plan } = await installed.fresh();
    const manifest = readFileSync(plan.settings.manifestPath, "utf8");
    writeFileSync(plan.settings.manifestPath, manifest.replace(redisUrl, "redis://127.0.0.1:1"));
    const result = await runCli(["uninstall", "--yes", "--purge-queues", "--json"], { env });
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report.ok).toBe(false);
    expect(report.warnings.join("\n")).toMatch(/the queues could not be purged/);
    expect(existsSync(plan.settings.extensionDir)).toBe(false);
    expect(existsSync(plan.settings.manifestPath)).toBe(false);
  });

  it("--json without --yes still prints a JSON document", async () => {
    const { env } = await installed.fresh();
    const result = await runCli(["uninstall", "--json"], { env });
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, error: { message: expect.stringMatching(/--yes/) } });
  });
});
