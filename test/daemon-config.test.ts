// The daemon's config file and its model: what setup writes and doctor's `model` check calls.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DAEMON_DEFAULTS, DaemonConfigError, loadDaemonConfig } from "../src/runtime/daemon/config.ts";
import { startDaemon } from "../src/runtime/daemon/daemon.ts";
import { DaemonModelError, resolveDaemonModel } from "../src/runtime/daemon/pi-session.ts";
import { MemoryInputSource, RecordingSink } from "./helpers/daemon.ts";
import { writeFakeAgentDir } from "./helpers/fake-model.ts";

const root = mkdtempSync(join(tmpdir(), "gw-daemon-config-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let files = 0;
function configFile(contents: unknown): string {
  const path = join(root, `config-${files++}.json`);
  writeFileSync(path, typeof contents === "string" ? contents : JSON.stringify(contents));
  return path;
}

const minimal = { redisUrl: "redis://127.0.0.1:6379", agentDir: "/home/u/.pi/agent", stateDir: "/home/u/.pi/agent/gateway" };

describe("loadDaemonConfig", () => {
  it("fills in the defaults and ignores other readers' sections", () => {
    const config = loadDaemonConfig(configFile({ ...minimal, telegram: { allow: [1] } }));
    expect(config).toEqual({ ...minimal, ...DAEMON_DEFAULTS });
  });

  it("keeps every optional field it is given", () => {
    const heartbeat = { intervalSeconds: 900, checklistFile: "/h/HEARTBEAT.md", lastHeartbeatFile: "/h/last.json", source: "systemd" };
    const config = loadDaemonConfig(
      configFile({ ...minimal, prefix: "p1", model: "anthropic/claude-x", secretsFile: "/s/secrets.env", cwd: "/home/u", stuckTurnMs: 5000, heartbeat }),
    );
    expect(config).toMatchObject({ prefix: "p1", model: "anthropic/claude-x", secretsFile: "/s/secrets.env", cwd: "/home/u", stuckTurnMs: 5000, heartbeat });
  });

  it.each([
    ["a missing file", undefined, /cannot read the daemon's config .*missing\.json/],
    ["not JSON", "{oops", /is not JSON/],
    ["not an object", "[1]", /expected a JSON object/],
    ["no redisUrl", { ...minimal, redisUrl: undefined }, /redisUrl is missing/],
    ["a redisUrl of another scheme", { ...minimal, redisUrl: "http://x" }, /redisUrl must start with redis:\/\//],
    ["a relative agentDir", { ...minimal, agentDir: "agent" }, /agentDir must be an absolute path \(got "agent"\)/],
    ["a model without its provider", { ...minimal, model: "claude" }, /model must be provider\/id/],
    ["a bad prefix", { ...minimal, prefix: "a b" }, /prefix must match/],
    ["a negative stuck-turn limit", { ...minimal, stuckTurnMs: -1 }, /stuckTurnMs must be a positive number/],
    [
      "a heartbeat without its checklist",
      { ...minimal, heartbeat: { intervalSeconds: 60, lastHeartbeatFile: "/l.json" } },
      /heartbeat: checklistFile is missing/,
    ],
    [
      "an unknown heartbeat source",
      { ...minimal, heartbeat: { intervalSeconds: 60, checklistFile: "/c", lastHeartbeatFile: "/l", source: "at" } },
      /source must be one of/,
    ],
  ])("refuses %s, saying what is wrong", (_, contents, message) => {
    const path = contents === undefined ? join(root, "missing.json") : configFile(contents);
    expect(() => loadDaemonConfig(path)).toThrow(DaemonConfigError);
    expect(() => loadDaemonConfig(path)).toThrow(message);
  });
});

describe("resolveDaemonModel", () => {
  const agentDir = join(root, "agent");
  writeFakeAgentDir(agentDir, { baseUrl: "http://127.0.0.1:9/v1" });
  const settings = (value: object) => writeFileSync(join(agentDir, "settings.json"), JSON.stringify(value));

  it("takes pi's own default model from settings.json, or the one given", () => {
    settings({ defaultProvider: "fake", defaultModel: "fake-1" });
    expect(resolveDaemonModel({ agentDir, cwd: root })).toEqual({ provider: "fake", id: "fake-1", label: "fake/fake-1" });
    expect(resolveDaemonModel({ agentDir, cwd: root, model: "fake/fake-1" }).label).toBe("fake/fake-1");
  });

  it("says clearly when there is no model, an unknown one, or one without credentials", () => {
    delete process.env.ANTHROPIC_API_KEY;
    settings({});
    expect(() => resolveDaemonModel({ agentDir, cwd: root })).toThrow(
      /no model for the daemon: --model was not given and .*settings.json has no defaultProvider/,
    );
    expect(() => resolveDaemonModel({ agentDir, cwd: root, model: "fake/nope" })).toThrow(/fake\/nope is not one pi knows/);
    expect(() => resolveDaemonModel({ agentDir, cwd: root, model: "anthropic/claude-sonnet-4-5" })).toThrow(/has no credentials/);
    try {
      resolveDaemonModel({ agentDir, cwd: root, model: "anthropic/claude-sonnet-4-5" });
    } catch (error) {
      expect(error).toBeInstanceOf(DaemonModelError);
      expect((error as DaemonModelError).fix).toMatch(/\/login anthropic/);
    }
  });

  it("keeps the daemon from starting with a model it cannot use", async () => {
    settings({});
    const config = loadDaemonConfig(configFile({ ...minimal, agentDir, stateDir: join(root, "state"), cwd: root, model: "fake/nope" }));
    await expect(startDaemon(config, { inputs: [new MemoryInputSource()], sink: new RecordingSink(), log: () => {} })).rejects.toThrow(DaemonModelError);
  });
});
