// A re-run starts from what is installed: the wizard's defaults, and what --yes keeps where no flag
// says otherwise (another Redis, prefix or tier would otherwise replace the install behind the user's back).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { installedAnswers } from "../src/components/installed-answers.ts";
import { rerunCommand } from "../src/components/rerun.ts";
import type { Manifest } from "../src/core/manifest.ts";
import type { PlanSettings } from "../src/core/plan.ts";
import { answersFromFlags } from "../src/wizard/flags.ts";
import { resolveAnswers } from "../src/wizard/questions.ts";
import { createScriptedPrompter } from "../src/wizard/scripted-prompter.ts";
import { createSandbox, runCli, runningText } from "./helpers/cli.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";

const redisUrl = inject("redisUrl");

const tier2: PlanSettings = {
  tier: 2,
  mode: "central",
  sessionId: "gateway",
  prefix: "ops",
  redisUrl: "redis://10.0.0.5:6380",
  redisPasswordSet: false,
  scope: "project",
  agentDir: "/home/u/.pi/agent",
  extensionDir: "/home/u/code/app/.pi/extensions/gateway",
  stateDir: "/home/u/.pi/agent/gateway",
  manifestPath: "/home/u/.pi/agent/gateway/manifest.json",
  heartbeat: {
    source: "cron",
    intervalSeconds: 1800,
    checklistFile: "/home/u/notes/HB.md",
    lastHeartbeatFile: "/home/u/.pi/agent/gateway/last-heartbeat.json",
  },
  service: { manager: "none", name: "me.pi", tmuxSession: "pi-gateway", tmuxSocket: "pi-gateway", wrapperPath: "/home/u/.pi/agent/gateway/run-central.sh" },
};
const choices = { installed: installedAnswers({ settings: tier2 }), heartbeat: "cron" as const, heartbeats: ["cron", "inngest", "none"] as const };

describe("installed settings as a re-run's defaults", () => {
  it("--yes with no flags keeps every installed setting", async () => {
    const answers = await resolveAnswers({}, undefined, "/elsewhere", { ...choices, heartbeats: [...choices.heartbeats] });
    expect(answers).toMatchObject({
      tier: 2,
      redisUrl: "redis://10.0.0.5:6380",
      prefix: "ops",
      scope: "project",
      projectDir: "/home/u/code/app",
      heartbeat: "cron",
      heartbeatEvery: "30m",
      heartbeatFile: "/home/u/notes/HB.md",
      service: "none",
      serviceLabel: "me.pi",
    });
  });

  it("flags still win: --tier 1 keeps the Redis and prefix; --scope project means the current directory", async () => {
    const answers = await resolveAnswers(answersFromFlags({ tier: "1", scope: "project" }), undefined, "/work/other", {
      ...choices,
      heartbeats: [...choices.heartbeats],
    });
    expect(answers).toMatchObject({ tier: 1, redisUrl: "redis://10.0.0.5:6380", prefix: "ops", scope: "project", projectDir: "/work/other" });
  });

  it("the wizard offers the installed answers as its initial values", async () => {
    // no scripted answers: every question takes its initial value
    const prompter = createScriptedPrompter({});
    const answers = await resolveAnswers({}, prompter, "/elsewhere", { ...choices, heartbeats: [...choices.heartbeats] });
    expect(prompter.asked).toEqual(["goal", "sessions", "redisUrl", "scope", "heartbeat", "heartbeatEvery"]);
    expect(answers).toMatchObject({ tier: 2, redisUrl: "redis://10.0.0.5:6380", scope: "project", heartbeat: "cron", heartbeatEvery: "30m" });
  });

  it("a heartbeat source this machine no longer offers falls back to its default", async () => {
    const answers = await resolveAnswers({}, undefined, "/x", {
      installed: { ...choices.installed, heartbeat: "launchd" },
      heartbeat: "cron",
      heartbeats: ["cron", "none"],
    });
    expect(answers.heartbeat).toBe("cron");
  });

  it("doctor's re-run command is the same installed settings as flags", () => {
    const manifest = { command: "gateway-setup", settings: tier2 } as Manifest;
    expect(rerunCommand(manifest)).toBe(
      "gateway-setup --tier 2 --yes --redis-url redis://10.0.0.5:6380 --prefix ops --scope project --project-dir /home/u/code/app " +
        "--heartbeat cron --heartbeat-every 30m --heartbeat-file /home/u/notes/HB.md --service none --service-label me.pi",
    );
  });

  it("through the CLI: `gateway-setup --yes` after an install with flags changes nothing and says why", async () => {
    const sandbox = createSandbox();
    const prefix = randomPrefix();
    const first = await runCli(["--tier", "1", "--yes", "--redis-url", redisUrl, "--prefix", prefix], { env: sandbox.env });
    expect(first.code, first.stdout).toBe(0);
    // the manifest records the answers as they took effect (never a password); a re-run starts from them
    const manifest = JSON.parse(readFileSync(join(sandbox.home, ".pi/agent/gateway/manifest.json"), "utf8")) as Manifest;
    expect(manifest.answers).toEqual({ tier: 1, goal: "notifications", sessions: "one", redisUrl, prefix, scope: "global" });
    expect(installedAnswers(manifest)).toBe(manifest.answers);
    const again = await runCli(["--yes"], { env: sandbox.env });
    expect(again.code, again.stdout).toBe(0);
    const text = runningText(again.stdout);
    expect(text).toContain("Tier 1 is installed (~/.pi/agent/extensions/gateway): this run starts from its settings.");
    expect(text).toContain("nothing changed");
    expect(text).toContain(`${prefix}:events:main`);
  });
});
