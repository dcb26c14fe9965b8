// doctor's tier-2 checks against a launchd install (recording launchctl stand-in) and a private
// tmux server: a loaded but not running job, unloaded heartbeat/tripwire schedules, a dead pane,
// a malformed last-heartbeat record; and a crontab block that no cron daemon runs.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mergeCronBlock } from "../src/components/crontab/block.ts";
import { crontabCheck } from "../src/components/crontab/check.ts";
import type { DoctorContext } from "../src/core/check.ts";
import type { Manifest } from "../src/core/manifest.ts";
import { cronDaemonRunning, detectSystem, lingerEnabled } from "../src/platform/system.ts";
import { createSandbox, REPO_ROOT, runCli, type Sandbox } from "./helpers/cli.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";

const redisUrl = inject("redisUrl");
/** the install's own names (an agent dir other than the default gets its own label and tmux server): read from its manifest */
let label: string;
let tmuxName: string;
const uid = process.getuid!();
let sandbox: Sandbox;
let env: Record<string, string>;
const tmuxDir = mkdtempSync(join(tmpdir(), "gw-doctor-tmux-"));
const tmux = (...args: string[]) => spawnSync("tmux", ["-L", tmuxName, ...args], { env: { ...process.env, TMUX_TMPDIR: tmuxDir }, encoding: "utf8" });

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
  env = {
    ...sandbox.env,
    PATH: `${sandbox.bin}:${join(REPO_ROOT, "node_modules/.bin")}:${process.env.PATH}`,
    PI_CODING_AGENT_DIR: join(sandbox.home, "my agent"),
    TMUX_TMPDIR: tmuxDir,
    // the launchctl stand-in stands for macOS's launchd
    GATEWAY_SETUP_TEST_SERVICE_MANAGER: "launchd",
  };
  launchctl({});
  const result = await runCli(
    ["--tier", "2", "--yes", "--redis-url", redisUrl, "--prefix", randomPrefix(), "--service", "launchd", "--heartbeat", "launchd", "--heartbeat-every", "1m"],
    { env },
  );
  expect(result.code, result.stdout + result.stderr).toBe(0);
  const { service } = (JSON.parse(readFileSync(join(env.PI_CODING_AGENT_DIR!, "gateway/manifest.json"), "utf8")) as Manifest).settings;
  label = service!.name;
  tmuxName = service!.tmuxSession;
  expect(service!.tmuxSocket).toBe(tmuxName);
});

afterAll(() => {
  tmux("kill-server");
});

describe("doctor on tier 2 (launchd)", () => {
  it("service: a KeepAlive job must be running, not just loaded, and its heartbeat schedule loaded", async () => {
    launchctl({ "": { code: 0, state: "running" }, ".heartbeat": { code: 0 } });
    expect(await doctor("service")).toMatchObject({ status: "ok" });
    launchctl({ "": { code: 0, state: "waiting" }, ".heartbeat": { code: 0 } });
    expect(await doctor("service")).toMatchObject({
      status: "fail",
      message: expect.stringContaining("state = waiting"),
      fix: `launchctl kickstart -k gui/${uid}/${label}`,
    });
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
    expect(tmux("-f", "/dev/null", "new-session", "-d", "-s", tmuxName, "sleep 300").status).toBe(0);
    expect(await doctor("tmux")).toMatchObject({ status: "ok", message: expect.stringContaining(`tmux -L ${tmuxName} attach -t ${tmuxName}`) });
    tmux("kill-server");
    // the killed server may still be on its way out: a new one starts once its socket is free
    await expect
      .poll(() => tmux("-f", "/dev/null", "set-option", "-g", "remain-on-exit", "on", ";", "new-session", "-d", "-s", tmuxName, "true").status, {
        timeout: 5_000,
        interval: 200,
      })
      .toBe(0);
    // `true` has to have ended before the pane counts as dead
    await expect.poll(() => tmux("display-message", "-p", "-t", `=${tmuxName}:0.0`, "#{pane_dead}").stdout.trim(), { timeout: 5_000, interval: 50 }).toBe("1");
    expect(await doctor("tmux")).toMatchObject({ status: "fail" });
  });

  it("heartbeat: a malformed last-heartbeat.json is reported, not read as a heartbeat NaN seconds ago", async () => {
    const file = join(sandbox.home, "my agent/gateway/last-heartbeat.json");
    writeFileSync(file, "{}");
    expect(await doctor("heartbeat")).toMatchObject({
      status: "fail",
      message: `${file} is not a heartbeat record`,
      fix: expect.stringContaining(`rm '${file}'`),
    });
    writeFileSync(file, JSON.stringify({ eventId: "hb-1", ts: Date.now(), deliveredAt: Date.now() }));
    expect(await doctor("heartbeat")).toMatchObject({ status: "ok" });
  });
});

describe("a crontab block with no cron daemon to run it", () => {
  const entries = [
    { schedule: "* * * * *", command: "/bin/sh -c 'heartbeat'" },
    { schedule: "* * * * *", command: "/bin/sh /state/tripwire.sh" },
  ];
  const manifest = {
    crontab: { entries },
    settings: { heartbeat: { source: "cron", intervalSeconds: 60 }, service: { manager: "none" } },
  } as unknown as Manifest;
  const startCron = `${uid === 0 ? "" : "sudo "}service cron start`;

  /** a PATH with a file-backed crontab and a pgrep that finds the named process names only */
  function machine(running: string[], pgrepCode?: number) {
    const bin = mkdtempSync(join(tmpdir(), "gw-cron-bin-"));
    const calls = join(bin, "pgrep.log");
    writeFileSync(join(bin, "crontab.txt"), mergeCronBlock("MAILTO=me\n", entries));
    writeFileSync(join(bin, "crontab"), `#!/bin/sh\n[ "$1" = -l ] && cat ${JSON.stringify(join(bin, "crontab.txt"))}\n`, { mode: 0o755 });
    const found = running.map((name) => `"-x ${name}") exit 0;;`).join("\n");
    writeFileSync(
      join(bin, "pgrep"),
      `#!/bin/sh\necho "$*" >> ${JSON.stringify(calls)}\n${pgrepCode === undefined ? "" : `exit ${pgrepCode}\n`}case "$*" in\n${found}\nesac\nexit 1\n`,
      { mode: 0o755 },
    );
    return { env: { PATH: `${bin}:/usr/bin:/bin`, HOME: bin }, calls: () => readFileSync(calls, "utf8").trim().split("\n") };
  }
  const check = (env: Record<string, string>) => crontabCheck.run({ manifest, env } as unknown as DoctorContext);

  it("tells a running cron or crond from none, through pgrep on PATH, and macOS's launchd-run cron from either", () => {
    const none = machine([]);
    expect(cronDaemonRunning("linux", none.env)).toBe(false);
    expect(none.calls()).toEqual(["-x cron", "-x crond"]);
    expect(cronDaemonRunning("linux", machine(["cron"]).env)).toBe(true);
    expect(cronDaemonRunning("linux", machine(["crond"]).env)).toBe(true);
    expect(cronDaemonRunning("darwin", none.env)).toBe(true);
    expect(detectSystem(machine([]).env).cronRunning).toBe(process.platform === "linux" ? false : process.platform === "darwin" ? true : undefined);
    // a pgrep that cannot answer leaves it to /proc: still a yes or no on Linux, never an exception
    expect(typeof cronDaemonRunning("linux", machine([], 3).env)).toBe(process.platform === "linux" ? "boolean" : "undefined");
  });

  it("reads loginctl's Linger as yes, no, or unknown (no loginctl, or an answer without it)", () => {
    const loginctl = (script: string | undefined) => {
      const sandbox = createSandbox();
      if (script === undefined) sandbox.standIn("loginctl", "#!/bin/sh\nexit 127\n");
      else sandbox.standIn("loginctl", `#!/bin/sh\n${script}\n`);
      return { ...sandbox.env, USER: "tester" };
    };
    expect(lingerEnabled(loginctl('echo "Linger=yes"'))).toBe(true);
    expect(lingerEnabled(loginctl('echo "Linger=no"'))).toBe(false);
    expect(lingerEnabled(loginctl('echo "Failed to get user: No such user" >&2; exit 1'))).toBeUndefined();
    expect(lingerEnabled(loginctl(undefined))).toBeUndefined();
  });

  it.skipIf(process.platform !== "linux")("crontab: fails when the block is in place but no cron daemon runs, with the command that starts one", async () => {
    expect(await check(machine([]).env)).toEqual({
      id: "crontab",
      status: "fail",
      message:
        "crontab block present with 2 entries, but no cron daemon is running (a container?): " +
        "the heartbeat and the tripwire never run (the daemon is cron on Debian/Ubuntu, crond on Fedora or Alpine)",
      fix: startCron,
    });
    expect(await check(machine(["cron"]).env)).toEqual({ id: "crontab", status: "ok", message: "crontab block present with 2 entries" });
    // --fix does not pretend to have re-added a block that is there; starting cron is the user's (root's) call
    const { env: stopped } = machine([]);
    expect(await crontabCheck.repair!({ manifest, env: stopped } as unknown as DoctorContext, await check(stopped))).toBe(
      `not repaired: start the cron daemon yourself (${startCron})`,
    );
  });
});
