import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import type { Answers } from "../src/core/answers.ts";
import { type FileStep, REDACTED } from "../src/core/plan.ts";
import type { RedisProbe } from "../src/core/redis.ts";
import type { SystemInfo } from "../src/core/system.ts";
import { buildPlan, PlanError } from "../src/plan/build-plan.ts";
import { planForDisplay } from "../src/plan/file-change.ts";

const home = mkdtempSync(join(tmpdir(), "gw-plan-"));
const env = { HOME: home, PATH: "/usr/bin:/bin" };
const linux: SystemInfo = {
  platform: "linux",
  isRoot: false,
  binaries: { "apt-get": "/usr/bin/apt-get" },
  systemdRunning: false,
  uid: 1000,
  serviceManager: "none",
};
const mac: SystemInfo = {
  platform: "darwin",
  isRoot: false,
  binaries: { brew: "/opt/homebrew/bin/brew" },
  systemdRunning: false,
  uid: 501,
  serviceManager: "launchd",
};
const ok: RedisProbe = { status: "ok", latencyMs: 1 };
const down: RedisProbe = { status: "unreachable", message: "no Redis answered at 127.0.0.1:6379" };
const answers: Answers = {
  tier: 1,
  goal: "notifications",
  sessions: "one",
  redisUrl: "redis://127.0.0.1:6379",
  prefix: "agent",
  scope: "global",
  projectDir: "/work/proj",
  installRedis: false,
};
const files = (steps: ReturnType<typeof buildPlan>["steps"]) => steps.filter((s): s is FileStep => s.kind === "file");

describe("buildPlan", () => {
  it("installs the extension into the global agent dir", () => {
    const plan = buildPlan({ answers, env, system: linux, redis: ok });
    const dir = join(home, ".pi/agent/extensions/gateway");
    expect(plan.settings).toMatchObject({
      tier: 1,
      sessionId: "main",
      prefix: "agent",
      extensionDir: dir,
      manifestPath: join(home, ".pi/agent/gateway/manifest.json"),
    });
    const paths = files(plan.steps).map((s) => s.path);
    expect(paths).toContain(join(dir, "index.ts"));
    // the extension's code is one built file with ioredis in it: no sources under lib/, no package.json, no npm install
    expect(paths).toEqual([join(dir, "index.ts"), join(dir, "gateway-extension.mjs")]);
    expect(files(plan.steps)[1]).toMatchObject({ description: "the extension's code, ioredis included", built: true, mode: 0o644 });
    expect(plan.steps.filter((s) => s.kind === "command")).toEqual([]);
  });

  it("honours PI_CODING_AGENT_DIR and the project scope", () => {
    const agent = join(home, "custom-agent");
    expect(buildPlan({ answers, env: { ...env, PI_CODING_AGENT_DIR: agent }, system: linux, redis: ok }).settings.extensionDir).toBe(
      join(agent, "extensions/gateway"),
    );
    const projectDir = join(home, "proj");
    mkdirSync(projectDir, { recursive: true });
    const project = buildPlan({ answers: { ...answers, scope: "project", projectDir }, env, system: linux, redis: ok });
    expect(project.settings.extensionDir).toBe(join(projectDir, ".pi/extensions/gateway"));
    expect(project.settings.manifestPath).toBe(join(home, ".pi/agent/gateway/manifest.json"));
  });

  it("renders the settings into index.ts and keeps the password out of it", () => {
    const plan = buildPlan({ answers: { ...answers, redisUrl: "redis://:hunter2@127.0.0.1:6380", prefix: "team" }, env, system: linux, redis: ok });
    const index = files(plan.steps).find((s) => s.path.endsWith("gateway/index.ts"))!;
    expect(index.contents).toContain(`prefix: "team"`);
    expect(index.contents).toContain(`redisUrl: "redis://127.0.0.1:6380"`);
    expect(index.contents).toContain(`secretsFile: ${JSON.stringify(join(home, ".pi/agent/gateway/secrets.env"))}`);
    expect(index.contents).not.toContain("hunter2");
    const secrets = files(plan.steps).find((s) => s.secret)!;
    expect(secrets).toMatchObject({ mode: 0o600, path: join(home, ".pi/agent/gateway/secrets.env") });
    expect(secrets.contents).toContain("GATEWAY_REDIS_PASSWORD=hunter2");
    const shown = JSON.stringify(planForDisplay(plan));
    expect(shown).not.toContain("hunter2");
    expect(shown).toContain(REDACTED);
    expect(plan.settings.redisPasswordSet).toBe(true);
  });

  it("quotes a hostile path safely in the generated code", () => {
    // (a backslash or a newline is refused before planning: pi's file URLs cannot carry them)
    const weird = join(home, `dir "with" quotes 'and' $(dollars) \`ticks\` \${x}`);
    const plan = buildPlan({ answers: { ...answers, redisPassword: "pw" }, env: { ...env, PI_CODING_AGENT_DIR: weird }, system: linux, redis: ok });
    const index = files(plan.steps).find((s) => s.path.endsWith("gateway/index.ts"))!;
    const literal = /secretsFile: (".*"),\n/.exec(index.contents)?.[1];
    expect(JSON.parse(literal!)).toBe(join(weird, "gateway/secrets.env"));
    const diagnostics = ts.transpileModule(index.contents, { reportDiagnostics: true, compilerOptions: { module: ts.ModuleKind.ESNext } }).diagnostics;
    expect(diagnostics).toEqual([]);
  });

  it("installs Redis only with consent, with the platform's package manager", () => {
    expect(() => buildPlan({ answers, env, system: linux, redis: down })).toThrow(PlanError);
    try {
      buildPlan({ answers, env, system: linux, redis: down });
    } catch (error) {
      expect((error as PlanError).fix).toMatch(/sudo apt-get install -y redis-server.*--install-redis/);
    }
    const linuxPlan = buildPlan({ answers: { ...answers, installRedis: true }, env, system: linux, redis: down });
    expect(linuxPlan.steps.filter((s) => s.component === "redis").map((s) => (s.kind === "command" ? s.argv.join(" ") : s.kind))).toEqual([
      "sudo apt-get update",
      "sudo apt-get install -y redis-server",
      "sudo service redis-server start",
      "redis-ready",
    ]);
    const asRoot = buildPlan({ answers: { ...answers, installRedis: true }, env, system: { ...linux, isRoot: true, systemdRunning: true }, redis: down });
    expect(asRoot.steps.filter((s) => s.kind === "command" && s.component === "redis").map((s) => (s as { argv: string[] }).argv.join(" "))).toEqual([
      "apt-get update",
      "apt-get install -y redis-server",
      "systemctl start redis-server",
    ]);
    const macPlan = buildPlan({ answers: { ...answers, installRedis: true }, env, system: mac, redis: down });
    expect(macPlan.steps.filter((s) => s.kind === "command" && s.component === "redis").map((s) => (s as { argv: string[] }).argv.join(" "))).toEqual([
      "brew install redis",
      "brew services start redis",
    ]);
  });

  it("never offers to install Redis for a remote URL or a password problem", () => {
    expect(() =>
      buildPlan({
        answers: { ...answers, redisUrl: "redis://redis.example:6379", installRedis: true },
        env,
        system: linux,
        redis: { status: "unreachable", message: "x" },
      }),
    ).toThrow(PlanError);
    expect(() =>
      buildPlan({
        answers: { ...answers, installRedis: true },
        env,
        system: linux,
        redis: { status: "auth-required", message: "requires a password (NOAUTH)" },
      }),
    ).toThrow(/NOAUTH/);
  });

  it("tier 4 never plans a bot open to everyone, and plans the daemon in place of pi in tmux", () => {
    const tier4 = { ...answers, tier: 4 as const, goal: "full-gateway" as const, telegramToken: "1:AAAAAAAAAAAAAAAAAAAAAAAAAAA", telegramPairing: false };
    expect(() => buildPlan({ answers: tier4, env, system: linux, redis: ok })).toThrow(/a bot open to everyone is never installed/);
    const withTools = { ...linux, binaries: { ...linux.binaries, "redis-cli": "/usr/bin/redis-cli", crontab: "/usr/bin/crontab", node: "/usr/bin/node" } };
    const plan = buildPlan({ answers: { ...tier4, telegramAllow: [42] }, env, system: withTools, redis: ok });
    expect(plan.settings).toMatchObject({ tier: 4, mode: "multi", telegram: { allow: [42], pairing: false } });
    const components = new Set(plan.steps.map((step) => step.component));
    expect(components.has("daemon")).toBe(true);
    expect(components.has("service")).toBe(false);
    const secrets = plan.steps.find((step): step is FileStep => step.kind === "file" && step.path.endsWith("secrets.env"))!;
    expect(secrets).toMatchObject({ mode: 0o600, secret: true });
    expect(JSON.stringify(planForDisplay(plan))).not.toContain("AAAAAAAAAAAAAAAAAAAAAAAAAAA");
  });
});
