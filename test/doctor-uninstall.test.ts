// doctor and uninstall against a real install in a temp HOME and the test run's redis-server.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { formatStatus } from "../src/cli/status-command.ts";
import { runDoctor } from "../src/doctor/run-doctor.ts";
import { applyUninstall, EDITED_ENTRY_REASON, planUninstall } from "../src/install/uninstall.ts";
import { describePlan } from "../src/plan/describe.ts";
import { aliveKey, sessionKeys, sessionsRegistryKey } from "../src/runtime/protocol/keys.ts";
import { createSandbox, runCli, runningText } from "./helpers/cli.ts";
import { installTemplate, installTier1 } from "./helpers/install.ts";
import { createPiSandbox, startPiRpc } from "./helpers/pi-rpc.ts";
import { freePort } from "./helpers/redis-server.ts";
import { expectSchema } from "./helpers/schema.ts";
import { snapshotTree } from "./helpers/tree.ts";

const redisUrl = inject("redisUrl");
const statusOf = (report: Awaited<ReturnType<typeof runDoctor>>) => Object.fromEntries(report.checks.map((c) => [c.id, c.status]));

// one install (npm install included) for every test that only looks at one or breaks it; each
// test gets it back as new (see installTemplate). The uninstall tests that install over a home of
// their own making, or twice, install for themselves.
let installed: Awaited<ReturnType<typeof installTemplate>>;
beforeAll(async () => {
  installed = await installTemplate(redisUrl);
});

describe("doctor", () => {
  it("reports a fresh install as healthy except for the missing listener", async () => {
    const { env } = await installed.fresh();
    const report = await runDoctor({ env, skip: ["pi"] });
    expect(statusOf(report)).toEqual({
      redis: "ok",
      "extension-files": "ok",
      "extension-deps": "ok",
      listener: "warn",
      queue: "ok",
      "dead-letters": "ok",
      sessions: "ok",
      "state-modes": "ok",
    });
    expect(report.ok).toBe(true);
    expect(report.checks.find((c) => c.id === "listener")?.fix).toMatch(/start pi/);
  });

  it("detects drift and a missing bundle, and --fix repairs them", async () => {
    const { env, plan } = await installed.fresh();
    const index = join(plan.settings.extensionDir, "index.ts");
    const bundle = join(plan.settings.extensionDir, "gateway-extension.mjs");
    const shipped = readFileSync(bundle, "utf8");
    writeFileSync(index, "// edited by hand\n");
    rmSync(bundle);
    const broken = await runDoctor({ env, only: ["extension-files", "extension-deps"] });
    expect(broken.ok).toBe(false);
    expect(broken.checks[0]).toMatchObject({ status: "fail", fix: "gateway-setup doctor --fix" });
    expect(broken.checks[0]!.message).toMatch(/1 installed file\(s\) differ from the install: .*index\.ts \(edited\)$/);
    expect(broken.checks[1]).toMatchObject({ status: "fail", fix: "gateway-setup doctor --fix" });
    expect(broken.checks[1]!.message).toMatch(/gateway-extension\.mjs is missing, so pi starts without the gateway/);

    const fixed = await runDoctor({ env, only: ["extension-files", "extension-deps"], fix: true });
    expect(fixed.repairs?.map((r) => r.id)).toEqual(["extension-files", "extension-deps"]);
    expect(statusOf(fixed)).toEqual({ "extension-files": "ok", "extension-deps": "ok" });
    expect(readFileSync(index, "utf8")).toContain("createGatewayExtension");
    expect(readFileSync(bundle, "utf8")).toBe(shipped);
  });

  it("warns about deep queues, dead letters and stale sessions; --fix prunes the stale ones", async () => {
    const { env, plan } = await installed.fresh();
    const { prefix, sessionId } = plan.settings;
    const redis = new Redis(redisUrl);
    try {
      const keys = sessionKeys(prefix, sessionId);
      const old = JSON.stringify({ id: "old", type: "t", source: "s", payload: {}, ts: Date.now() - 2 * 3600_000 });
      await redis.lpush(keys.events, old);
      await redis.lpush(keys.deadLetter, JSON.stringify({ raw: "{", reason: "not valid JSON" }));
      await redis.sadd(sessionsRegistryKey(prefix), "pid-999999");
      const report = await runDoctor({ env, only: ["queue", "dead-letters", "sessions", "listener"] });
      expect(statusOf(report)).toEqual({ queue: "fail", "dead-letters": "warn", sessions: "warn", listener: "warn" });
      const check = (id: string) => report.checks.find((c) => c.id === id)!;
      expect(check("queue").message).toContain(`${keys.events}: 1 pending`);
      // the dead session is the sessions check's to report: queue and listener do not count it again
      expect(check("queue").message).not.toContain("pid-999999");
      expect(check("listener").message).toBe(`no pi session is listening on ${keys.notify}; events wait in the queue until one starts`);
      // aimed at the installed Redis (the test's is not on 6379)
      expect(check("dead-letters").fix).toContain(`redis-cli -u ${redisUrl} LRANGE ${keys.deadLetter} 0 -1`);
      expect(check("sessions").message).toContain("pid-999999");

      await redis.set(aliveKey(prefix, "pid-1"), "{}", "EX", 60);
      await redis.sadd(sessionsRegistryKey(prefix), "pid-1");
      const fixed = await runDoctor({ env, only: ["sessions"], fix: true });
      expect(fixed.checks[0]!.status).toBe("ok");
      expect(await redis.smembers(sessionsRegistryKey(prefix))).toEqual(["pid-1"]);
    } finally {
      redis.disconnect();
    }
  });

  it("a registered session that does not listen while the installed one does: pruning is the fix, not starting pi", async () => {
    const { env, plan } = await installed.fresh();
    const { prefix, sessionId } = plan.settings;
    const redis = new Redis(redisUrl);
    const listener = new Redis(redisUrl);
    try {
      await listener.subscribe(sessionKeys(prefix, sessionId).notify);
      // alive by its record (this test's own pid), but nobody subscribes: a pi that hangs or was just killed
      await redis.set(aliveKey(prefix, "pid-4242"), JSON.stringify({ owner: "elsewhere:1:x", pid: process.pid, host: "elsewhere", startedAt: 0 }), "EX", 60);
      await redis.sadd(sessionsRegistryKey(prefix), "pid-4242");
      const [finding] = (await runDoctor({ env, only: ["listener"] })).checks;
      expect(finding).toMatchObject({ id: "listener", status: "warn", fix: expect.stringMatching(/^gateway-setup doctor --fix/) });
      expect(finding!.message).toBe(
        `registered session(s) pid-4242 do not listen on ${sessionKeys(prefix, "pid-4242").notify}: ` +
          "their pi has stopped or hangs; events for them wait until it is pruned",
      );
    } finally {
      redis.disconnect();
      listener.disconnect();
    }
  });

  it("fails fast with exit 1 and a fix when Redis is down", async () => {
    const port = await freePort();
    const { env } = await installed.fresh();
    // what the same run costs with Redis up (node start-up alone can take over a second on a loaded
    // machine): the bound is on what a Redis that is down adds, which must be less than a connect deadline
    const healthyStarted = Date.now();
    await runCli(["doctor", "--json", "--skip", "pi"], { env });
    const healthyElapsed = Date.now() - healthyStarted;
    const manifestPath = join(env.HOME, ".pi/agent/gateway/manifest.json");
    writeFileSync(manifestPath, readFileSync(manifestPath, "utf8").replace(redisUrl, `redis://127.0.0.1:${port}`));
    const started = Date.now();
    const result = await runCli(["doctor", "--json", "--skip", "pi"], { env });
    expect(Date.now() - started - healthyElapsed).toBeLessThan(2000);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report.ok).toBe(false);
    expect(report.checks[0]).toMatchObject({ id: "redis", status: "fail" });
    expect(report.checks[0].fix).toMatch(/start Redis/);
    expect(report.checks.find((c: { id: string }) => c.id === "queue").status).toBe("skip");
  });

  it("validates its flags and explains an empty home", async () => {
    const sandbox = createSandbox();
    const unknown = await runCli(["doctor", "--only", "nonsense"], { env: sandbox.env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown check "nonsense"; checks are: redis, /);
    const empty = await runCli(["doctor", "--json"], { env: sandbox.env });
    expect(empty.code).toBe(1);
    expect(JSON.parse(empty.stdout).checks[0]).toMatchObject({ id: "install", status: "fail", fix: "npx gateway-setup" });
  });

  it("emits the documented JSON shape", async () => {
    const { env } = await installed.fresh();
    const result = await runCli(["doctor", "--json"], { env });
    const report = JSON.parse(result.stdout);
    expectSchema("doctor-report.schema.json", report);
    expect(result.code).toBe(report.ok ? 0 : 1);
    const fixed = JSON.parse((await runCli(["doctor", "--json", "--fix"], { env })).stdout);
    expectSchema("doctor-report.schema.json", fixed);
    expect(() => expectSchema("doctor-report.schema.json", { ok: false, checks: [{ id: "redis", status: "fail", message: "down" }] })).toThrow(/fix/);
  });
});

describe("status", () => {
  it("says no heartbeat is installed rather than an interval nothing keeps", () => {
    const text = formatStatus(
      {
        installed: true,
        version: "0.1.0",
        tier: 3,
        installedAt: "t",
        updatedAt: "t",
        extensionDir: "/x",
        ioredis: "5.11.1",
        redis: { url: "redis://h:1", reachable: true },
        heartbeat: { source: "none", intervalSeconds: 900 },
        sessions: [],
      },
      {},
    );
    expect(text).toContain("heartbeat  none installed (--heartbeat none)");
    expect(text).not.toContain("900");
  });

  it("shows what is installed and the queues, and prunes dead sessions while looking", async () => {
    const { env, plan } = await installed.fresh();
    const { prefix } = plan.settings;
    const redis = new Redis(redisUrl);
    try {
      await redis.sadd(sessionsRegistryKey(prefix), "pid-999999");
      await redis.lpush(sessionKeys(prefix, "main").events, "{}", "{}");
      const json = await runCli(["status", "--json"], { env });
      expect(json.code).toBe(0);
      const report = JSON.parse(json.stdout);
      expect(report).toMatchObject({ installed: true, tier: 1, redis: { reachable: true }, pruned: ["pid-999999"] });
      expect(report.sessions).toEqual([{ id: "main", registered: false, alive: false, listeners: 0, pending: 2, processing: 0, deadLetters: 0 }]);
      expect(await redis.sismember(sessionsRegistryKey(prefix), "pid-999999")).toBe(0);
      const human = await runCli(["status"], { env });
      expect(human.stdout).toMatch(/tier 1[\s\S]*main\s+no\s+0\s+2\s+0\s+0/);
    } finally {
      redis.disconnect();
    }
  });

  it("says so when nothing is installed, with a non-zero exit", async () => {
    const result = await runCli(["status"], { env: createSandbox().env });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/Not installed\. Run: npx gateway-setup/);
  });
});

describe("uninstall", () => {
  it("restores the home directory byte for byte, including a file it had replaced", async () => {
    const home = mkdtempSync(join(tmpdir(), "gw-uninstall-"));
    mkdirSync(join(home, ".pi/agent/extensions/gateway"), { recursive: true });
    writeFileSync(join(home, ".pi/agent/extensions/gateway/index.ts"), "// the user's own experiment\n");
    mkdirSync(join(home, ".pi/agent/sessions"));
    const before = snapshotTree(home);
    const { env } = await installTier1(redisUrl, {}, home);
    expect(env).not.toHaveProperty("npm_config_cache");
    expect(snapshotTree(home)).not.toEqual(before);
    expect(Object.keys(snapshotTree(home)).filter((path) => path.startsWith(".npm") || path.includes("npm-cache"))).toEqual([]);
    const dry = await runCli(["uninstall", "--dry-run"], { env });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/restore\s+~\/\.pi\/agent\/extensions\/gateway\/index\.ts/);
    const refused = await runCli(["uninstall"], { env });
    expect(refused.code).toBe(2);
    const result = await runCli(["uninstall", "--yes"], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(snapshotTree(home)).toEqual(before);
  });

  it("keeps and names a file the user edited, and keeps queues unless asked", async () => {
    const { env, plan } = await installed.fresh();
    const redis = new Redis(redisUrl);
    try {
      const keys = sessionKeys(plan.settings.prefix, plan.settings.sessionId);
      await redis.lpush(keys.events, "{}");
      const index = join(plan.settings.extensionDir, "index.ts");
      const keysFile = join(plan.settings.extensionDir, "gateway-extension.mjs");
      writeFileSync(index, "// mine now\n");
      writeFileSync(keysFile, "// my build\n");
      const uninstall = planUninstall(plan.settings.manifestPath)!;
      // the entry pi loads is kept under another name; any other edited file stays where it is
      expect(uninstall.steps).toContainEqual({ kind: "keep-file", path: index, keptAs: `${index}.edited`, reason: EDITED_ENTRY_REASON });
      expect(uninstall.steps).toContainEqual({ kind: "keep-file", path: keysFile, reason: "edited since install" });
      await applyUninstall(uninstall, env);
      expect(readFileSync(`${index}.edited`, "utf8")).toBe("// mine now\n");
      expect(readFileSync(keysFile, "utf8")).toBe("// my build\n");
      expect(snapshotTree(plan.settings.extensionDir)).toEqual({
        "index.ts.edited": expect.any(String),
        "gateway-extension.mjs": expect.any(String),
      });
      expect(await redis.llen(keys.events)).toBe(1);
    } finally {
      redis.disconnect();
    }
  });

  it("--purge-queues deletes the session's keys", async () => {
    const { env, plan } = await installed.fresh();
    const redis = new Redis(redisUrl);
    try {
      const keys = sessionKeys(plan.settings.prefix, plan.settings.sessionId);
      await redis.lpush(keys.events, "{}");
      await redis.lpush(keys.deadLetter, "{}");
      await redis.set(`${keys.seenPrefix}abc`, "1");
      const result = await runCli(["uninstall", "--yes", "--purge-queues", "--json"], { env });
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout).purged).toBe(3);
      expect(await redis.exists(keys.events, keys.deadLetter, `${keys.seenPrefix}abc`)).toBe(0);
      expect(snapshotTree(env.HOME)).toEqual({});
    } finally {
      redis.disconnect();
    }
  });

  it("moving the extension to another scope takes back the old one, and uninstall still restores everything", async () => {
    const home = mkdtempSync(join(tmpdir(), "gw-rescope-"));
    mkdirSync(join(home, "project"));
    const before = snapshotTree(home);
    const global = await installTier1(redisUrl, {}, home);
    const moved = await installTier1(redisUrl, { scope: "project", projectDir: join(home, "project"), prefix: global.plan.settings.prefix }, home);
    const tree = Object.keys(snapshotTree(home));
    expect(tree.some((p) => p.startsWith(".pi/agent/extensions/"))).toBe(false);
    expect(tree).toContain("project/.pi/extensions/gateway/index.ts");
    expect(tree).toContain("project/.pi/extensions/gateway/gateway-extension.mjs");
    await applyUninstall(planUninstall(moved.plan.settings.manifestPath)!, moved.env);
    expect(snapshotTree(home)).toEqual(before);
  });

  it("a re-install that moves the extension shows, before applying, what it takes back of the previous install (--dry-run, --json)", async () => {
    const sandbox = createSandbox();
    const home = sandbox.home;
    mkdirSync(join(home, "a"));
    mkdirSync(join(home, "b"));
    const before = snapshotTree(home);
    const first = await installTier1(redisUrl, { scope: "project", projectDir: join(home, "a") }, home);
    const old = join(home, "a/.pi/extensions/gateway");
    const installed = snapshotTree(home);
    const args = ["--tier", "1", "--redis-url", redisUrl, "--prefix", first.plan.settings.prefix, "--scope", "project", "--project-dir", join(home, "b")];

    const dry = await runCli([...args, "--dry-run"], { env: sandbox.env });
    expect(dry.code, dry.stderr).toBe(0);
    const text = runningText(dry.stdout);
    expect(text).toContain("Then take back the previous install at ~/a/.pi/extensions/gateway (the extension moves to ~/b/.pi/extensions/gateway)");
    expect(text).toMatch(/remove ~\/a\/\.pi\/extensions\/gateway\/ index\.ts gateway-extension\.mjs/);

    const json = await runCli([...args, "--dry-run", "--json"], { env: sandbox.env });
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout);
    expectSchema("setup-report.schema.json", report);
    expect(report.plan.replaces).toEqual({ version: first.plan.version, extensionDir: old });
    const takeBack = report.plan.steps.filter((step: { kind: string }) => step.kind === "take-back");
    const removed = takeBack
      .filter((step: { action: string }) => step.action === "remove-file" || step.action === "remove-tree")
      .map((step: { path: string }) => step.path);
    // every file of the previous install is in the plan, with nothing beyond it
    const previousFiles = first.plan.steps.flatMap((step) => (step.kind === "file" ? [step.path] : []));
    expect(previousFiles.sort()).toEqual([join(old, "gateway-extension.mjs"), join(old, "index.ts")]);
    expect(removed.sort()).toEqual([...previousFiles].sort());
    expect(snapshotTree(home)).toEqual(installed);

    // the plan is what is applied: the old install goes, and uninstall leaves home as it was
    const moved = await installTier1(redisUrl, { scope: "project", projectDir: join(home, "b"), prefix: first.plan.settings.prefix }, home);
    expect(moved.plan.steps.filter((step) => step.kind === "take-back").length).toBe(takeBack.length);
    expect(Object.keys(snapshotTree(home)).filter((path) => path.startsWith("a/"))).toEqual(["a/"]);
    await applyUninstall(planUninstall(moved.plan.settings.manifestPath)!, moved.env);
    expect(snapshotTree(home)).toEqual(before);
  });

  it("leaves the user's own node_modules, package.json and lock in a folder it installs over alone, also after moving the extension away", async () => {
    const home = mkdtempSync(join(tmpdir(), "gw-own-modules-"));
    const own = join(home, ".pi/agent/extensions/gateway");
    mkdirSync(join(own, "node_modules/left-pad"), { recursive: true });
    mkdirSync(join(home, "project"));
    writeFileSync(join(own, "index.ts"), "// the user's own experiment\n");
    writeFileSync(join(own, "package.json"), JSON.stringify({ name: "mine", version: "1.0.0", dependencies: { "left-pad": "1.3.0" } }, null, 2) + "\n");
    writeFileSync(join(own, "node_modules/left-pad/package.json"), JSON.stringify({ name: "left-pad", version: "1.3.0" }) + "\n");
    writeFileSync(join(own, "node_modules/left-pad/index.js"), "module.exports = (s) => s;\n");
    writeFileSync(join(own, "package-lock.json"), JSON.stringify({ name: "mine", lockfileVersion: 3 }, null, 2) + "\n");
    const before = snapshotTree(home);
    const theirs = (tree: Record<string, string>) => Object.fromEntries(Object.entries(tree).filter(([path]) => /^(node_modules|package)/.test(path)));
    const ownFolder = theirs(snapshotTree(own));

    const global = await installTier1(redisUrl, {}, home);
    // the bundle needs none of them: no npm install runs over the user's dependencies
    expect(theirs(snapshotTree(own))).toEqual(ownFolder);
    expect(await applyUninstall(planUninstall(global.plan.settings.manifestPath)!, global.env)).toEqual([]);
    expect(snapshotTree(home)).toEqual(before);

    // the same when a re-install moves the extension away from the user's folder: their index.ts comes back, the rest never moved
    const again = await installTier1(redisUrl, {}, home);
    const moved = await installTier1(redisUrl, { scope: "project", projectDir: join(home, "project"), prefix: again.plan.settings.prefix }, home);
    expect(moved.plan.steps.filter((step) => step.kind === "take-back" && step.action === "restore-tree")).toEqual([]);
    expect(readFileSync(join(own, "index.ts"), "utf8")).toBe("// the user's own experiment\n");
    expect(theirs(snapshotTree(own))).toEqual(ownFolder);
    expect(await applyUninstall(planUninstall(moved.plan.settings.manifestPath)!, moved.env)).toEqual([]);
    expect(snapshotTree(home)).toEqual(before);
  });

  it("an index.ts edited since install is kept renamed, so pi still starts after uninstall (and after moving the extension)", async () => {
    const sandbox = createPiSandbox();
    try {
      const { env, plan } = await installTier1(redisUrl, {}, sandbox.home);
      const index = join(plan.settings.extensionDir, "index.ts");
      // a typical edit: the settings, while it still imports the bundle
      const edited = readFileSync(index, "utf8").replace(`prefix: "${plan.settings.prefix}"`, `prefix: "${plan.settings.prefix}x"`);
      expect(edited).toContain("./gateway-extension.mjs");
      writeFileSync(index, edited);
      const dry = await runCli(["uninstall", "--dry-run"], { env });
      expect(runningText(dry.stdout)).toContain(
        `keep ~/.pi/agent/extensions/gateway/index.ts as ~/.pi/agent/extensions/gateway/index.ts.edited (${EDITED_ENTRY_REASON})`,
      );
      const result = await runCli(["uninstall", "--yes"], { env });
      expect(result.code, result.stderr).toBe(0);
      expect(runningText(result.stdout)).toContain(
        "Uninstalled. Kept 1 file(s): ~/.pi/agent/extensions/gateway/index.ts.edited: " +
          "your edited index.ts, renamed so pi does not load it (it needs the extension's code, which is gone)",
      );
      expect(readFileSync(`${index}.edited`, "utf8")).toBe(edited);
      expect(existsSync(index)).toBe(false);
      // pi loads <extensions>/gateway/index.ts: an older one left in place made pi exit 1 at start (Cannot find module './lib/...')
      const pi = await startPiRpc({ sandbox, env: { PI_CODING_AGENT_DIR: join(sandbox.home, ".pi/agent") } });
      expect(pi.extensionErrors()).toEqual([]);
      expect(await pi.stop()).toMatchObject({ code: 0 });

      // moving the extension away takes back the old folder the same way, and says so beforehand
      rmSync(`${index}.edited`);
      const again = await installTier1(redisUrl, { prefix: plan.settings.prefix }, sandbox.home);
      writeFileSync(index, edited);
      mkdirSync(join(sandbox.home, "project"));
      const moved = await installTier1(
        redisUrl,
        { scope: "project", projectDir: join(sandbox.home, "project"), prefix: again.plan.settings.prefix },
        sandbox.home,
      );
      expect(moved.plan.steps).toContainEqual(expect.objectContaining({ kind: "take-back", action: "keep-file", path: index, keptAs: `${index}.edited` }));
      expect(describePlan(moved.plan, env)).toContain(
        `keep      ~/.pi/agent/extensions/gateway/index.ts as ~/.pi/agent/extensions/gateway/index.ts.edited (${EDITED_ENTRY_REASON})`,
      );
      expect(snapshotTree(plan.settings.extensionDir)).toEqual({ "index.ts.edited": expect.any(String) });
      const pi2 = await startPiRpc({ sandbox, env: { PI_CODING_AGENT_DIR: join(sandbox.home, ".pi/agent") } });
      expect(pi2.extensionErrors()).toEqual([]);
      await pi2.stop();
    } finally {
      sandbox.cleanup();
    }
  });

  it("says so when nothing is installed", async () => {
    const sandbox = createSandbox();
    const result = await runCli(["uninstall", "--yes"], { env: sandbox.env });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Nothing to uninstall/);
  });
});
