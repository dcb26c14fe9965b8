// Tier 2 plans as data: launchd plists parsed back key by key, systemd units, the crontab block,
// and the choices a machine cannot honour.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import plist from "plist";
import { describe, expect, it } from "vitest";
import { unescapeAsCron } from "../src/components/heartbeat/command.ts";
import { bootstrapArgv } from "../src/components/service/launchd.ts";
import { renderSystemdService } from "../src/components/service/systemd.ts";
import type { Answers } from "../src/core/answers.ts";
import { PlanError, UsageError } from "../src/core/errors.ts";
import type { CommandStep, CrontabStep, FileStep, Plan } from "../src/core/plan.ts";
import type { SystemInfo } from "../src/core/system.ts";
import { buildPlan } from "../src/plan/build-plan.ts";
import { describePlan } from "../src/plan/describe.ts";
import { heartbeatChoices } from "../src/plan/settings.ts";
import { shellQuote } from "../src/platform/shell.ts";
import { answersFromFlags } from "../src/wizard/flags.ts";

const home = mkdtempSync(join(tmpdir(), "gw-t2plan-"));
const env = { HOME: home, USER: "dev" };
const binaries = {
  pi: "/opt/homebrew/bin/pi",
  node: "/opt/homebrew/bin/node",
  tmux: "/opt/homebrew/bin/tmux",
  "redis-cli": "/opt/homebrew/bin/redis-cli",
  launchctl: "/bin/launchctl",
  crontab: "/usr/bin/crontab",
};
const mac: SystemInfo = { platform: "darwin", isRoot: false, binaries, systemdRunning: false, uid: 501, serviceManager: "launchd" };
const linux: SystemInfo = {
  platform: "linux",
  isRoot: false,
  binaries: { ...binaries, pi: "/usr/local/bin/pi", tmux: "/usr/bin/tmux", "redis-cli": "/usr/bin/redis-cli", node: "/usr/bin/node" },
  systemdRunning: true,
  uid: 1000,
  serviceManager: "systemd",
};
const answers: Answers = {
  tier: 2,
  goal: "always-on",
  sessions: "one",
  redisUrl: "redis://127.0.0.1:6379",
  prefix: "agent",
  scope: "global",
  projectDir: home,
  installRedis: false,
};
const ok = { status: "ok" as const, latencyMs: 1 };
const hasSystemdAnalyze = spawnSync("sh", ["-c", "command -v systemd-analyze"]).status === 0;

const file = (plan: Plan, path: string) => plan.steps.find((s): s is FileStep => s.kind === "file" && s.path === path);
/**
 * the service manager's commands (the central session's, the heartbeat's, the tripwire's) as text;
 * a retried launchctl bootstrap shows as the launchctl command it retries
 */
const commands = (plan: Plan) =>
  plan.steps
    .filter((s): s is CommandStep => s.kind === "command" && ["service", "heartbeat", "watchdog"].includes(s.component))
    .map((s) => s.argv.slice(Math.max(0, s.argv.indexOf("launchctl"))).join(" "));

describe("tier 2 on macOS (launchd)", () => {
  const plan = buildPlan({ answers, env, system: mac, redis: ok });
  const agents = join(home, "Library/LaunchAgents");

  it("runs the central session in tmux through a KeepAlive agent, built from data and valid when parsed back", () => {
    expect(plan.settings).toMatchObject({ mode: "central", sessionId: "gateway", heartbeat: { source: "launchd", intervalSeconds: 900 } });
    const central = file(plan, join(agents, "dev.gateway-setup.pi-central.plist"))!;
    const parsed = plist.parse(central.contents) as Record<string, unknown>;
    expect(parsed.Label).toBe("dev.gateway-setup.pi-central");
    expect(parsed.ProgramArguments).toEqual(["/bin/sh", join(home, ".pi/agent/gateway/run-central.sh")]);
    expect(parsed.RunAtLoad).toBe(true);
    expect(parsed.KeepAlive).toBe(true);
    expect(parsed.ThrottleInterval).toBe(10);
    expect(parsed.WorkingDirectory).toBe(home);
    const environment = parsed.EnvironmentVariables as Record<string, string>;
    expect(environment.GATEWAY_ROLE).toBe("central");
    expect(environment.HOME).toBe(home);
    expect(environment.PATH!.split(":")).toEqual(expect.arrayContaining(["/opt/homebrew/bin", "/usr/bin", "/bin"]));
    expect(parsed.StandardOutPath).toBe(join(home, "Library/Logs/pi-gateway/dev.gateway-setup.pi-central.out.log"));
    expect(parsed.StandardErrorPath).toBe(join(home, "Library/Logs/pi-gateway/dev.gateway-setup.pi-central.err.log"));
    for (const path of [parsed.ProgramArguments as string[], [parsed.WorkingDirectory as string]].flat()) expect(path.startsWith("/")).toBe(true);
  });

  it("pushes heartbeats and runs the tripwire with StartInterval agents", () => {
    const heartbeat = plist.parse(file(plan, join(agents, "dev.gateway-setup.pi-central.heartbeat.plist"))!.contents) as Record<string, unknown>;
    expect(heartbeat.StartInterval).toBe(900);
    expect(heartbeat.KeepAlive).toBeUndefined();
    const [sh, flag, script] = heartbeat.ProgramArguments as string[];
    expect([sh, flag]).toEqual(["/bin/sh", "-c"]);
    expect(script).toContain("/opt/homebrew/bin/redis-cli -u redis://127.0.0.1:6379 LPUSH agent:events:gateway");
    const tripwire = plist.parse(file(plan, join(agents, "dev.gateway-setup.pi-central.tripwire.plist"))!.contents) as Record<string, unknown>;
    expect(tripwire.ProgramArguments).toEqual(["/bin/sh", join(home, ".pi/agent/gateway/tripwire.sh")]);
    expect(tripwire.StartInterval).toBe(900);
  });

  it("loads with the modern launchctl verbs and takes them back with bootout", () => {
    const label = "dev.gateway-setup.pi-central";
    expect(commands(plan)).toEqual([
      `launchctl bootout gui/501/${label}`,
      `launchctl enable gui/501/${label}`,
      `launchctl bootstrap gui/501 ${join(agents, `${label}.plist`)}`,
      `launchctl bootout gui/501/${label}.heartbeat`,
      `launchctl enable gui/501/${label}.heartbeat`,
      `launchctl bootstrap gui/501 ${join(agents, `${label}.heartbeat.plist`)}`,
      `launchctl bootout gui/501/${label}.tripwire`,
      `launchctl enable gui/501/${label}.tripwire`,
      `launchctl bootstrap gui/501 ${join(agents, `${label}.tripwire.plist`)}`,
    ]);
    const logFolder = plan.steps.findIndex((s) => s.kind === "dir" && s.path === join(home, "Library/Logs/pi-gateway"));
    expect(plan.steps[logFolder]).toEqual({
      kind: "dir",
      component: "service",
      description: "launchd log folder",
      path: join(home, "Library/Logs/pi-gateway"),
    });
    // launchd does not create the folder of a job's log files: it is there before the first job loads
    expect(logFolder).toBeLessThan(plan.steps.findIndex((s) => s.kind === "command" && s.argv.includes("bootstrap")));
    const bootstrap = plan.steps.find((s): s is CommandStep => s.kind === "command" && s.argv.includes("bootstrap"))!;
    expect(bootstrap.undoArgv).toEqual(["launchctl", "bootout", `gui/501/${label}`]);
    expect(plan.steps.some((s) => s.kind === "crontab")).toBe(false);
  });

  it("writes HEARTBEAT.md only when it is not there, and renders the central settings into index.ts", () => {
    expect(file(plan, join(home, ".pi/agent/HEARTBEAT.md"))).toMatchObject({ createOnly: true });
    const index = file(plan, join(home, ".pi/agent/extensions/gateway/index.ts"))!.contents;
    expect(index).toContain(`mode: "central" as const`);
    expect(index).toContain(`sessionId: "gateway"`);
    expect(index).toMatch(
      /heartbeat: \{"intervalSeconds":900,"checklistFile":".*HEARTBEAT\.md","lastHeartbeatFile":".*last-heartbeat\.json","source":"launchd"\}/,
    );
  });
});

describe("tier 2 on Linux", () => {
  it("uses a systemd user unit with Restart=always and timers for heartbeat and tripwire", () => {
    const plan = buildPlan({ answers: { ...answers, heartbeatEvery: "5m" }, env, system: linux, redis: ok });
    const dir = join(home, ".config/systemd/user");
    const unit = file(plan, join(dir, "dev.gateway-setup.pi-central.service"))!.contents;
    expect(unit).toContain(`ExecStart=/bin/sh ${join(home, ".pi/agent/gateway/run-central.sh")}`);
    expect(unit).toContain("Restart=always");
    expect(unit).toContain("Environment=GATEWAY_ROLE=central");
    expect(unit).toContain("WantedBy=default.target");
    const timer = file(plan, join(dir, "dev.gateway-setup.pi-central-heartbeat.timer"))!.contents;
    expect(timer).toContain("OnUnitActiveSec=300s");
    expect(timer).toContain("Unit=dev.gateway-setup.pi-central-heartbeat.service");
    expect(file(plan, join(dir, "dev.gateway-setup.pi-central-heartbeat.service"))!.contents).toMatch(
      /Type=oneshot\nExecStart=\/bin\/sh -c ".*LPUSH agent:events:gateway/,
    );
    expect(commands(plan)).toEqual([
      "systemctl --user daemon-reload",
      "systemctl --user enable dev.gateway-setup.pi-central.service",
      "systemctl --user restart dev.gateway-setup.pi-central.service",
      // each part loads its own units: systemd reloads before it enables them
      "systemctl --user daemon-reload",
      "systemctl --user enable dev.gateway-setup.pi-central-heartbeat.timer",
      "systemctl --user restart dev.gateway-setup.pi-central-heartbeat.timer",
      "systemctl --user daemon-reload",
      "systemctl --user enable dev.gateway-setup.pi-central-tripwire.timer",
      "systemctl --user restart dev.gateway-setup.pi-central-tripwire.timer",
    ]);
    expect(plan.notes.join("\n")).toContain("loginctl enable-linger dev");
    // with linger on already, there is nothing to say
    const lingering = buildPlan({ answers: { ...answers, heartbeatEvery: "5m" }, env, system: { ...linux, lingerOn: true }, redis: ok });
    expect(lingering.notes.join("\n")).not.toContain("enable-linger");
  });

  it.skipIf(!hasSystemdAnalyze)("writes units that systemd-analyze verify accepts", () => {
    const plan = buildPlan({ answers: { ...answers, redisUrl: "redis://127.0.0.1:6379", heartbeatEvery: "5m" }, env, system: linux, redis: ok });
    const dir = mkdtempSync(join(tmpdir(), "gw-units-"));
    const units = plan.steps.filter((s): s is FileStep => s.kind === "file" && /\.(service|timer)$/.test(s.path));
    expect(units).toHaveLength(5);
    for (const unit of units) writeFileSync(join(dir, basename(unit.path)), unit.contents);
    const result = spawnSync("systemd-analyze", ["verify", ...units.map((u) => join(dir, basename(u.path)))], { encoding: "utf8" });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toBe("");
  });

  it("falls back to the tmux wrapper alone and cron where no service manager exists", () => {
    const container: SystemInfo = { ...linux, serviceManager: "none", systemdRunning: false };
    const plan = buildPlan({ answers: { ...answers, heartbeatEvery: "10m" }, env, system: container, redis: ok });
    expect(plan.settings.heartbeat?.source).toBe("cron");
    const cron = plan.steps.find((s): s is CrontabStep => s.kind === "crontab")!;
    expect(cron.entries.map((e) => e.schedule)).toEqual(["*/10 * * * *", "*/10 * * * *"]);
    // each command sets its own PATH: the block holds no environment line that would reach the user's later jobs
    expect(cron.entries[0]!.command).toMatch(/^\/usr\/bin\/env PATH=\/usr\/bin:\/bin \/bin\/sh -c '.*date \+\\%s/);
    expect(cron.entries[1]!.command).toBe(`/usr/bin/env PATH=/usr/bin:/bin /bin/sh ${join(home, ".pi/agent/gateway/tripwire.sh")}`);
    expect(commands(plan)).toEqual([]);
    expect(plan.notes.join("\n")).toMatch(/No service manager here.*nohup \/bin\/sh .*run-central\.sh/);
  });

  it("says when no cron daemon runs: the crontab block would do nothing until it is started", () => {
    const container: SystemInfo = { ...linux, serviceManager: "none", systemdRunning: false };
    const cronNote = (plan: Plan) => plan.notes.find((note) => note.startsWith("No cron daemon is running"));
    const stopped = buildPlan({ answers, env, system: { ...container, cronRunning: false }, redis: ok });
    expect(cronNote(stopped)).toBe(
      "No cron daemon is running here (a container?): the heartbeat and the tripwire in your crontab will not run until one is. " +
        "Start it with: sudo service cron start (the daemon is crond on Fedora or Alpine); a container needs it started each time it starts.",
    );
    // root, as in most containers, has no sudo to go through
    expect(cronNote(buildPlan({ answers, env, system: { ...container, isRoot: true, cronRunning: false }, redis: ok }))).toContain(
      "Start it with: service cron start (",
    );
    // only the tripwire is in the crontab with an Inngest heartbeat, only the heartbeat with systemd timers
    expect(cronNote(buildPlan({ answers: { ...answers, heartbeat: "inngest" }, env, system: { ...container, cronRunning: false }, redis: ok }))).toMatch(
      /: the tripwire in your crontab will not run/,
    );
    expect(cronNote(buildPlan({ answers: { ...answers, heartbeat: "cron" }, env, system: { ...linux, cronRunning: false }, redis: ok }))).toMatch(
      /: the heartbeat in your crontab will not run/,
    );
    // a running (or unknown) cron daemon, or no crontab block at all: nothing to say
    expect(cronNote(buildPlan({ answers, env, system: { ...container, cronRunning: true }, redis: ok }))).toBeUndefined();
    expect(cronNote(buildPlan({ answers, env, system: container, redis: ok }))).toBeUndefined();
    expect(cronNote(buildPlan({ answers, env, system: { ...linux, cronRunning: false }, redis: ok }))).toBeUndefined();
    expect(cronNote(buildPlan({ answers: { ...answers, heartbeat: "none" }, env, system: { ...container, cronRunning: false }, redis: ok }))).toBeUndefined();
  });

  it("schedules the Inngest cron and the cron tripwire at the heartbeat interval", () => {
    const container: SystemInfo = { ...linux, serviceManager: "none", systemdRunning: false };
    const plan = buildPlan({ answers: { ...answers, heartbeat: "inngest", heartbeatEvery: "6m" }, env, system: container, redis: ok });
    expect(plan.steps.find((s): s is CrontabStep => s.kind === "crontab")!.entries.map((e) => e.schedule)).toEqual(["*/6 * * * *"]);
    expect(file(plan, join(home, ".pi/agent/gateway/inngest/gateway-heartbeat.ts"))!.contents).toContain(`{ cron: "*/6 * * * *" }`);
  });

  it("refuses an Inngest interval its cron trigger cannot run exactly (the watchdogs would alarm between heartbeats)", () => {
    for (const [every, system] of [
      ["10s", linux],
      ["7m", { ...linux, serviceManager: "none" as const }],
      ["90m", mac],
    ] as const) {
      const attempt = () => buildPlan({ answers: { ...answers, heartbeat: "inngest", heartbeatEvery: every }, env, system, redis: ok });
      // the interval is the user's to change: a usage error (exit 2)
      expect(attempt).toThrow(UsageError);
      expect(attempt).toThrow(
        `an Inngest cron trigger cannot run every ${every}: an Inngest cron trigger can run every N minutes where N divides 60, ` +
          "or every N hours where N divides 24; choose such an interval or another heartbeat source",
      );
    }
  });

  it("writes an Inngest function for --heartbeat inngest and runs no server", () => {
    const plan = buildPlan({ answers: { ...answers, heartbeat: "inngest" }, env, system: linux, redis: ok });
    const fn = file(plan, join(home, ".pi/agent/gateway/inngest/gateway-heartbeat.ts"))!.contents;
    expect(fn).toContain(`{ cron: "*/15 * * * *" }`);
    expect(fn).toContain(`lpush("agent:events:gateway"`);
    expect(fn).toContain("serveHost");
    expect(plan.notes.join("\n")).toMatch(/Serve .*gateway-heartbeat\.ts from your Inngest app/);
    // the extension's watchdog names this source in its alarm
    expect(file(plan, join(home, ".pi/agent/extensions/gateway/index.ts"))!.contents).toContain(`"source":"inngest"}`);
  });

  // a choice the user can change on the command line is a usage error (exit 2); a missing tool a failure (exit 1)
  it.each([
    [{ heartbeat: "launchd" as const }, linux, /--heartbeat launchd needs launchd, and this machine has a systemd user manager/, UsageError],
    [{ heartbeat: "systemd" as const }, { ...linux, serviceManager: "none" as const }, /systemd user manager/, UsageError],
    [{ heartbeat: "cron" as const, heartbeatEvery: "45s" }, linux, /cron cannot run every 45s/, UsageError],
    [{}, { ...linux, binaries: { ...linux.binaries, pi: undefined } }, /pi is not on PATH/, PlanError],
    [{}, { ...linux, binaries: { ...linux.binaries, tmux: undefined } }, /tmux is not on PATH/, PlanError],
  ])("refuses %j on a machine that cannot do it", (extra, system, message, kind) => {
    expect(() => buildPlan({ answers: { ...answers, ...extra }, env, system, redis: ok })).toThrow(kind);
    expect(() => buildPlan({ answers: { ...answers, ...extra }, env, system, redis: ok })).toThrow(message);
  });
});

describe("tier 2 choices and edge cases", () => {
  const container: SystemInfo = { ...linux, serviceManager: "none", systemdRunning: false };
  const steps = (plan: Plan) => plan.steps.filter((s): s is CommandStep | FileStep => s.kind === "command" || s.kind === "file");

  it("--heartbeat none arms no watchdog: no heartbeat config in index.ts, no tripwire, no timer, no checklist", () => {
    for (const system of [linux, mac, container]) {
      const plan = buildPlan({ answers: { ...answers, heartbeat: "none" }, env, system, redis: ok });
      expect(plan.settings.heartbeat?.source).toBe("none");
      const index = plan.steps.find((s): s is FileStep => s.kind === "file" && s.path.endsWith("extensions/gateway/index.ts"))!.contents;
      expect(index).not.toContain("heartbeat:");
      const everything = JSON.stringify(plan.steps.filter((s) => s.component !== "extension"));
      expect(everything).not.toMatch(/tripwire|HEARTBEAT\.md|heartbeat\.(timer|plist)/);
      expect(plan.steps.some((s) => s.kind === "crontab")).toBe(false);
    }
  });

  it("--heartbeat none: the plan's summary says no heartbeat or watchdog is installed, and names no checklist", () => {
    const summary = describePlan(buildPlan({ answers: { ...answers, heartbeat: "none" }, env, system: container, redis: ok }), env);
    expect(summary).toContain("Heartbeat none: nothing sends heartbeats, and no watchdog or checklist is installed");
    expect(summary).not.toMatch(/every 15m|HEARTBEAT\.md/);
    expect(describePlan(buildPlan({ answers, env, system: container, redis: ok }), env)).toContain(
      "Heartbeat cron, every 15m; checklist ~/.pi/agent/HEARTBEAT.md",
    );
  });

  it("--service none picks cron for the heartbeat when --heartbeat was not given, on a machine with systemd or launchd", () => {
    expect(buildPlan({ answers: { ...answers, service: "none" }, env, system: linux, redis: ok }).settings.heartbeat?.source).toBe("cron");
    expect(heartbeatChoices(linux, "none")).toEqual({ heartbeat: "cron", heartbeats: ["cron", "inngest", "none"] });
    expect(heartbeatChoices(mac)).toEqual({ heartbeat: "launchd", heartbeats: ["cron", "launchd", "inngest", "none"] });
  });

  it("quotes paths with spaces in the cron tripwire line and in the hint to start the wrapper by hand", () => {
    const spaced = { ...env, PI_CODING_AGENT_DIR: join(home, "my agent's dir") };
    const plan = buildPlan({ answers: { ...answers, heartbeatEvery: "10m" }, env: spaced, system: container, redis: ok });
    const tripwire = plan.steps.find((s): s is FileStep => s.kind === "file" && s.path.endsWith("tripwire.sh"))!;
    mkdirSync(dirname(tripwire.path), { recursive: true });
    writeFileSync(tripwire.path, tripwire.contents);
    const line = plan.steps.find((s): s is CrontabStep => s.kind === "crontab")!.entries[1]!.command;
    const ran = spawnSync("/bin/sh", ["-c", unescapeAsCron(line)], { env: { PATH: "/usr/bin:/bin", HOME: home }, encoding: "utf8" });
    expect(ran.status, ran.stderr).toBe(0);
    expect(ran.stderr).toBe("");
    const hint = /start the central session yourself with: (nohup .*? 2>&1 &)/.exec(plan.notes.join("\n"))![1]!;
    expect(hint).toBe(`nohup /bin/sh ${shellQuote(join(home, "my agent's dir/gateway/run-central.sh"))} >/dev/null 2>&1 &`);
    expect(hint).toContain("'\\''s dir");
    // another agent dir than ~/.pi/agent: its own tmux server and session
    const tag = plan.settings.crontabBlock!;
    expect(tag).toMatch(/^[0-9a-f]{8}$/);
    expect(plan.notes.join("\n")).toContain(`attach with: tmux -L pi-gateway-${tag} attach -t pi-gateway-${tag}`);
  });

  it("runs pi on its own tmux server and records the socket", () => {
    const plan = buildPlan({ answers, env, system: linux, redis: ok });
    expect(plan.settings.service).toMatchObject({ tmuxSession: "pi-gateway", tmuxSocket: "pi-gateway" });
    const wrapper = steps(plan).find((s): s is FileStep => s.kind === "file" && s.path.endsWith("run-central.sh"))!.contents;
    expect(wrapper).toContain('"$TMUX_BIN" -L pi-gateway -f /dev/null');
    expect(wrapper).toMatch(/\/usr\/bin\/env PATH=\S+ HOME=\S+ PI_CODING_AGENT_DIR=\S+ GATEWAY_ROLE=central/);
  });

  it("renders systemd values the way systemd reads them: % doubled everywhere, $ doubled only where systemd expands it", () => {
    const unit = renderSystemdService({
      description: "100% up",
      execStart: ["/bin/sh", "-c", "echo $HOME 50%"],
      environment: { NOTE: "costs $5 or 10%" },
      workingDirectory: "/home/a%b",
      type: "simple",
    });
    expect(unit).toContain("Description=100%% up");
    expect(unit).toContain('ExecStart=/bin/sh -c "echo $$HOME 50%%"');
    expect(unit).toContain('Environment="NOTE=costs $5 or 10%%"');
    expect(unit).toContain("WorkingDirectory=/home/a%%b");
    expect(unit).not.toContain("network-online");
  });

  it("retries launchctl bootstrap while launchd still tears the old job down, and gives up with its status", () => {
    const dir = mkdtempSync(join(tmpdir(), "gw-bootstrap-"));
    const calls = join(dir, "calls");
    writeFileSync(
      join(dir, "launchctl"),
      `#!/bin/sh\necho "$*" >> ${JSON.stringify(calls)}\n[ "$(wc -l < ${JSON.stringify(calls)})" -ge "$SUCCEED_ON" ] && exit 0\n` +
        `echo "Bootstrap failed: 5: Input/output error" >&2\nexit 5\n`,
      { mode: 0o755 },
    );
    const run = (succeedOn: number) => {
      rmSync(calls, { force: true });
      const [binary, ...args] = bootstrapArgv("gui/501", "/Users/a b/x.plist") as [string, ...string[]];
      const result = spawnSync(binary, args, { env: { PATH: `${dir}:/usr/bin:/bin`, SUCCEED_ON: String(succeedOn) }, encoding: "utf8" });
      return { status: result.status, stderr: result.stderr, calls: readFileSync(calls, "utf8").trim().split("\n") };
    };
    const flaky = run(3);
    expect(flaky.status).toBe(0);
    expect(flaky.calls).toEqual(Array(3).fill("bootstrap gui/501 /Users/a b/x.plist"));
    const broken = run(99);
    expect(broken.status).toBe(5);
    expect(broken.calls).toHaveLength(5);
    expect(broken.stderr).toContain("Input/output error");
  });
});

describe("re-installing over an older tier 2", () => {
  /** a home with an older install's files: same paths, other contents */
  function olderInstall(
    system: SystemInfo,
    { oldWrapper = "#!/bin/sh\n# older wrapper, still on the default tmux server\n", changed = (_path: string): boolean => true } = {},
  ) {
    const olderHome = mkdtempSync(join(tmpdir(), "gw-t2older-"));
    const olderEnv = { HOME: olderHome, USER: "dev" };
    const first = buildPlan({ answers, env: olderEnv, system, redis: ok });
    for (const step of first.steps) {
      if (step.kind !== "file") continue;
      mkdirSync(dirname(step.path), { recursive: true });
      writeFileSync(step.path, step.path.endsWith("run-central.sh") ? oldWrapper : changed(step.path) ? `${step.contents}\n` : step.contents);
    }
    return buildPlan({ answers: { ...answers, heartbeatEvery: "5m" }, env: olderEnv, system, redis: ok });
  }
  const label = "dev.gateway-setup.pi-central";

  it("launchd: boots the old job out before replacing its plist, and only rollback bootstraps the old one again", () => {
    const plan = olderInstall(mac);
    const central = plan.steps.findIndex((s) => s.kind === "file" && s.path.endsWith(`${label}.plist`));
    const before = plan.steps[central - 1] as CommandStep;
    expect(before).toMatchObject({ argv: ["launchctl", "bootout", `gui/501/${label}`], rollbackOnly: true, mayFail: true });
    expect(before.undoArgv!.slice(-3)).toEqual(["bootstrap", "gui/501", (plan.steps[central] as FileStep).path]);
    expect(plan.steps.slice(central + 1, central + 3).map((s) => (s as CommandStep).argv.slice(-3).join(" "))).toEqual([
      `launchctl enable gui/501/${label}`,
      `bootstrap gui/501 ${(plan.steps[central] as FileStep).path}`,
    ]);
  });

  it("systemd: rollback-only steps ahead of the unit files reload systemd and start the older units again", () => {
    const plan = olderInstall(linux);
    // each part (central session, heartbeat, tripwire) loads its own units, and notes its own older ones
    const parts = [
      { unitFile: `${label}.service`, unit: `${label}.service` },
      { unitFile: `${label}-heartbeat.service`, unit: `${label}-heartbeat.timer` },
      { unitFile: `${label}-tripwire.service`, unit: `${label}-tripwire.timer` },
    ];
    for (const { unitFile, unit } of parts) {
      const first = plan.steps.findIndex((s) => s.kind === "file" && s.path.endsWith(`/${unitFile}`));
      const [noted, reload] = plan.steps.slice(first - 2, first) as CommandStep[];
      expect(noted).toMatchObject({
        argv: ["systemctl", "--user", "is-enabled", unit],
        undoArgv: ["systemctl", "--user", "enable", "--now", unit],
        rollbackOnly: true,
        mayFail: true,
      });
      expect(reload).toMatchObject({ argv: ["systemctl", "--user", "daemon-reload"], undoArgv: ["systemctl", "--user", "daemon-reload"], rollbackOnly: true });
    }
  });

  const kills = (plan: Plan) => plan.steps.filter((s): s is CommandStep => s.kind === "command" && s.argv.includes("kill-session"));
  const onDefaultServer = ["tmux", "kill-session", "-t", "=pi-gateway"];
  const onItsOwnServer = ["tmux", "-L", "pi-gateway", "kill-session", "-t", "=pi-gateway"];

  it("restarts a running central pi when the extension changed, also one an older wrapper started on the default tmux server", () => {
    const plan = olderInstall(mac);
    expect(kills(plan).map((s) => s.argv)).toEqual([onDefaultServer, onItsOwnServer]);
    expect(kills(plan).every((s) => s.mayFail)).toBe(true);
    expect(plan.steps.at(-1)).toBe(kills(plan)[1]);
    // systemd restarts the changed unit and its tmux server with it: no second restart
    expect(kills(olderInstall(linux)).map((s) => s.argv)).toEqual([onDefaultServer]);
    // an unchanged unit is not restarted, so a changed extension needs the session ended
    const wrapper = buildPlan({ answers, env, system: linux, redis: ok }).steps.find(
      (s): s is FileStep => s.kind === "file" && s.path.endsWith("run-central.sh"),
    )!.contents;
    const extensionOnly = olderInstall(linux, { oldWrapper: wrapper, changed: (path) => path.endsWith("extensions/gateway/index.ts") });
    expect(kills(extensionOnly).map((s) => s.argv)).toEqual([onItsOwnServer]);
    // a first install has nothing to restart
    expect(buildPlan({ answers, env, system: linux, redis: ok }).steps.some((s) => s.kind === "command" && s.argv.includes("kill-session"))).toBe(false);
  });
});

describe("tier 2 inputs", () => {
  it("stores a relative --heartbeat-file as an absolute path", () => {
    expect(answersFromFlags({ heartbeatFile: "notes/HB.md" }).heartbeatFile).toBe(join(process.cwd(), "notes/HB.md"));
  });

  it("expands a ~ the shell left in a path flag (--heartbeat-file=~/HB.md) to HOME from the environment", () => {
    const env = { HOME: "/home/someone" };
    expect(answersFromFlags({ heartbeatFile: "~/HB.md", projectDir: "~/proj" }, env)).toMatchObject({
      heartbeatFile: "/home/someone/HB.md",
      projectDir: "/home/someone/proj",
    });
    expect(answersFromFlags({ heartbeatFile: "~/notes/../HB.md", projectDir: "~" }, env)).toMatchObject({
      heartbeatFile: "/home/someone/HB.md",
      projectDir: "/home/someone",
    });
    // only a leading ~ followed by / (or alone) means HOME
    expect(answersFromFlags({ heartbeatFile: "a/~/HB.md", projectDir: "~other/p" }, env)).toMatchObject({
      heartbeatFile: join(process.cwd(), "a/~/HB.md"),
      projectDir: "~other/p",
    });
  });

  it("lets the Inngest function take its Redis URL from the app's environment", () => {
    const plan = buildPlan({ answers: { ...answers, heartbeat: "inngest" }, env, system: linux, redis: ok });
    const fn = plan.steps.find((s): s is FileStep => s.kind === "file" && s.path.endsWith("gateway-heartbeat.ts"))!.contents;
    expect(fn).toContain(`process.env.GATEWAY_REDIS_URL || "redis://127.0.0.1:6379"`);
  });
});
