// doctor's tier-2 checks against a launchd install (recording launchctl stand-in) and a private
// tmux server: a loaded but not running job, unloaded heartbeat/tripwire schedules, a dead pane,
// a malformed last-heartbeat record.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createSandbox, REPO_ROOT, runCli, type Sandbox } from "./helpers/cli.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";

const redisUrl = inject("redisUrl");
const label = "dev.gateway-setup.pi-central";
const uid = process.getuid!();
let sandbox: Sandbox;
let env: Record<string, string>;
const tmuxDir = mkdtempSync(join(tmpdir(), "gw-doctor-tmux-"));
const tmux = (...args: string[]) => spawnSync("tmux", ["-L", "pi-gateway", ...args], { env: { ...process.env, TMUX_TMPDIR: tmuxDir }, encoding: "utf8" });

/** launchctl print answers: exit status and the state line per label suffix */
function launchctl(print: Record<string, { code: number; state?: string }>) {
  const cases = Object.entries(print)
    .map(([suffix, { code, state }]) => `  "print gui/${uid}/${label}${suffix}") ${state ? `echo "	state = ${state}"; ` : ""}exit ${code};;`)
    .join("\n");
  sandbox.standIn("launchctl", `#!/bin/sh\ncase "$*" in\n${cases}\nesac\nexit 0\n`);
}

async function doctor(only: string) {
  const result = await runCli(["doctor", "--json", "--only", only], { env });
  return JSON.parse(result.stdout).checks[0] as { id: string; status: string; message: string; fix?: string };
}

beforeAll(async () => {
  sandbox = createSandbox();
  env = { ...sandbox.env, PATH: `${sandbox.bin}:${join(REPO_ROOT, "node_modules/.bin")}:${process.env.PATH}`, PI_CODING_AGENT_DIR: join(sandbox.home, "my agent"), TMUX_TMPDIR: tmuxDir };
  launchctl({});
  const result = await runCli(["--tier", "2", "--yes", "--redis-url", redisUrl, "--prefix", randomPrefix(), "--service", "launchd", "--heartbeat", "launchd", "--heartbeat-every", "1m"], { env });
  expect(result.code, result.stdout + result.stderr).toBe(0);
});

afterAll(() => {
  tmux("kill-server");
});

describe("doctor on tier 2 (launchd)", () => {
  it("service: a KeepAlive job must be running, not just loaded, and its heartbeat schedule loaded", async () => {
    launchctl({ "": { code: 0, state: "running" }, ".heartbeat": { code: 0 } });
    expect(await doctor("service")).toMatchObject({ status: "ok" });
    launchctl({ "": { code: 0, state: "waiting" }, ".heartbeat": { code: 0 } });
    expect(await doctor("service")).toMatchObject({ status: "fail", message: expect.stringContaining("state = waiting"), fix: `launchctl kickstart -k gui/${uid}/${label}` });
    launchctl({ "": { code: 0, state: "running" }, ".heartbeat": { code: 113 } });
    expect(await doctor("service")).toMatchObject({
      status: "fail",
      message: expect.stringContaining(`${label}.heartbeat is not loaded`),
      fix: `launchctl bootstrap gui/${uid} ${join(sandbox.home, "Library/LaunchAgents", `${label}.heartbeat.plist`)}`,
    });
  });

  it("listener: with nobody on the central queue, the fix starts the central session, not a plain pi", async () => {
    expect(await doctor("listener")).toMatchObject({
      status: "warn",
      message: expect.stringMatching(/no pi session is listening on .*:notify:gateway/),
      fix: `start the central session, which consumes them (a pi you start by hand does not): launchctl kickstart -k gui/${uid}/${label}`,
    });
  });

  it("tripwire: the script and its schedule", async () => {
    launchctl({ ".tripwire": { code: 0 } });
    expect(await doctor("tripwire")).toMatchObject({ status: "ok" });
    launchctl({ ".tripwire": { code: 113 } });
    expect(await doctor("tripwire")).toMatchObject({ status: "fail", message: expect.stringContaining(`${label}.tripwire is not loaded`) });
  });

  it("tmux: looks at gateway-setup's own tmux server and counts a dead pane as down", async () => {
    expect(await doctor("tmux")).toMatchObject({ status: "fail", fix: `launchctl kickstart -k gui/${uid}/${label}` });
    expect(tmux("-f", "/dev/null", "new-session", "-d", "-s", "pi-gateway", "sleep 300").status).toBe(0);
    expect(await doctor("tmux")).toMatchObject({ status: "ok", message: expect.stringContaining("tmux -L pi-gateway attach -t pi-gateway") });
    tmux("kill-server");
    expect(tmux("-f", "/dev/null", "set-option", "-g", "remain-on-exit", "on", ";", "new-session", "-d", "-s", "pi-gateway", "true").status).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(await doctor("tmux")).toMatchObject({ status: "fail" });
  });

  it("heartbeat: a malformed last-heartbeat.json is reported, not read as a heartbeat NaN seconds ago", async () => {
    const file = join(sandbox.home, "my agent/gateway/last-heartbeat.json");
    writeFileSync(file, "{}");
    expect(await doctor("heartbeat")).toMatchObject({ status: "fail", message: `${file} is not a heartbeat record`, fix: expect.stringContaining(`rm '${file}'`) });
    writeFileSync(file, JSON.stringify({ eventId: "hb-1", ts: Date.now(), deliveredAt: Date.now() }));
    expect(await doctor("heartbeat")).toMatchObject({ status: "ok" });
  });
});
