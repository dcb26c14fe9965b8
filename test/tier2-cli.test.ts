// Tier 2 through the CLI on Linux: systemd user units via a recording systemctl, rollback when a
// service command fails, and the cron + wrapper-only path with a file-backed crontab stand-in.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { describe, expect, inject, it } from "vitest";
import { readCronEntries } from "../src/components/crontab/block.ts";
import { unescapeAsCron } from "../src/components/heartbeat/command.ts";
import { parseEvent } from "../src/runtime/protocol/event.ts";
import { createSandbox, REPO_ROOT, runCli, runningText, type Sandbox } from "./helpers/cli.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { snapshotTree } from "./helpers/tree.ts";

const redisUrl = inject("redisUrl");

function tier2Sandbox(): { sandbox: Sandbox; env: Record<string, string>; log: string } {
  const sandbox = createSandbox();
  const log = join(sandbox.bin, "calls.log");
  const env = {
    ...sandbox.env,
    PATH: `${sandbox.bin}:${join(REPO_ROOT, "node_modules/.bin")}:${process.env.PATH}`,
    PI_CODING_AGENT_DIR: join(sandbox.home, ".pi/agent"),
  };
  return { sandbox, env, log };
}

const calls = (log: string) => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : []);

describe("tier 2 with systemd", () => {
  it("installs user units, loads them, and uninstall disables them and restores the home", async () => {
    const { sandbox, env, log } = tier2Sandbox();
    sandbox.standIn("systemctl", `#!/bin/sh\necho "systemctl $*" >> ${JSON.stringify(log)}\nexit 0\n`);
    env.GATEWAY_SETUP_TEST_SERVICE_MANAGER = "systemd";
    const before = snapshotTree(sandbox.home);
    const prefix = randomPrefix();
    const result = await runCli(
      [
        "--tier",
        "2",
        "--yes",
        "--json",
        "--redis-url",
        redisUrl,
        "--prefix",
        prefix,
        "--service",
        "systemd",
        "--heartbeat",
        "systemd",
        "--heartbeat-every",
        "1m",
      ],
      { env },
    );
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const unit = "dev.gateway-setup.pi-central";
    expect(calls(log)).toEqual([
      "systemctl --user daemon-reload",
      `systemctl --user enable ${unit}.service`,
      `systemctl --user restart ${unit}.service`,
      // each part loads its own units: systemd reloads before it enables them
      "systemctl --user daemon-reload",
      `systemctl --user enable ${unit}-heartbeat.timer`,
      `systemctl --user restart ${unit}-heartbeat.timer`,
      "systemctl --user daemon-reload",
      `systemctl --user enable ${unit}-tripwire.timer`,
      `systemctl --user restart ${unit}-tripwire.timer`,
    ]);
    const loadCalls = calls(log).length;
    expect(readFileSync(join(sandbox.home, `.config/systemd/user/${unit}.service`), "utf8")).toContain("Restart=always");

    const again = await runCli(
      [
        "--tier",
        "2",
        "--yes",
        "--json",
        "--redis-url",
        redisUrl,
        "--prefix",
        prefix,
        "--service",
        "systemd",
        "--heartbeat",
        "systemd",
        "--heartbeat-every",
        "1m",
      ],
      { env },
    );
    expect(JSON.parse(again.stdout)).toMatchObject({ ok: true, changed: false });
    // nothing changed, so nothing is loaded again
    expect(calls(log)).toHaveLength(loadCalls);

    sandbox.standIn(
      "loginctl",
      `#!/bin/sh
echo "Linger=no"
`,
    );
    const doctor = JSON.parse((await runCli(["doctor", "--json", "--only", "service"], { env: { ...env, USER: "tester" } })).stdout);
    expect(doctor.checks[0]).toMatchObject({ id: "service", status: "warn", fix: "loginctl enable-linger tester" });
    expect(calls(log).slice(-2)).toEqual([`systemctl --user is-active --quiet ${unit}.service`, `systemctl --user is-active --quiet ${unit}-heartbeat.timer`]);
    const logged = calls(log).length;

    sandbox.standIn("tmux", `#!/bin/sh\necho "tmux $*" >> ${JSON.stringify(log)}\nexit 0\n`);
    const uninstall = await runCli(["uninstall", "--yes"], { env });
    expect(uninstall.code, uninstall.stderr).toBe(0);
    expect(calls(log).slice(logged).sort()).toEqual(
      [
        ...[`${unit}-heartbeat.timer`, `${unit}-tripwire.timer`, `${unit}.service`].map((u) => `systemctl --user disable --now ${u}`),
        "systemctl --user daemon-reload",
        // the central pi stops on its own tmux server, never the user's
        "tmux -L pi-gateway kill-session -t =pi-gateway",
      ].sort(),
    );
    expect(snapshotTree(sandbox.home)).toEqual(before);
  });

  it("--service none on a machine with a systemd user manager picks cron for the heartbeat without being told", async () => {
    const { sandbox, env } = tier2Sandbox();
    const runtimeDir = join(sandbox.home, "run");
    mkdirSync(join(runtimeDir, "systemd"), { recursive: true });
    writeFileSync(join(runtimeDir, "systemd/private"), "");
    sandbox.standIn("systemctl", "#!/bin/sh\nexit 0\n");
    const machine = { ...env, XDG_RUNTIME_DIR: runtimeDir };
    const planned = async (...flags: string[]) =>
      JSON.parse((await runCli(["--tier", "2", "--dry-run", "--json", "--redis-url", redisUrl, ...flags], { env: machine })).stdout);
    expect((await planned()).plan.settings).toMatchObject({ heartbeat: { source: "systemd" }, service: { manager: "systemd" } });
    const report = await planned("--service", "none");
    expect(report).toMatchObject({ ok: true, plan: { settings: { heartbeat: { source: "cron" }, service: { manager: "none" } } } });
  });

  it("rolls back the units it enabled when a service command fails", async () => {
    const { sandbox, env, log } = tier2Sandbox();
    sandbox.standIn(
      "systemctl",
      `#!/bin/sh\necho "systemctl $*" >> ${JSON.stringify(log)}\n` +
        `case "$*" in *restart*tripwire*) echo "Failed to restart: unit not found" >&2; exit 5;; esac\nexit 0\n`,
    );
    env.GATEWAY_SETUP_TEST_SERVICE_MANAGER = "systemd";
    const before = snapshotTree(sandbox.home);
    const result = await runCli(
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
    expect(result.code).toBe(1);
    expect(runningText(result.stderr + result.stdout)).toMatch(
      /could not start dev\.gateway-setup\.pi-central-tripwire\.timer.*exited with code 5[\s\S]*unit not found[\s\S]*Every change was rolled back/,
    );
    const undo = calls(log).slice(9);
    expect(undo).toEqual([
      "systemctl --user disable --now dev.gateway-setup.pi-central-tripwire.timer",
      "systemctl --user disable --now dev.gateway-setup.pi-central-heartbeat.timer",
      "systemctl --user disable --now dev.gateway-setup.pi-central.service",
    ]);
    expect(snapshotTree(sandbox.home)).toEqual(before);
  });
});

describe("a failed re-install puts the older services back", () => {
  const unit = "dev.gateway-setup.pi-central";
  /** the service files of an install, by path */
  const serviceFiles = (dir: string) => Object.fromEntries(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name), "utf8")]));

  it("systemd: the units an older install enabled are enabled and started again, from the older files", async () => {
    const { sandbox, env, log } = tier2Sandbox();
    const args = (every: string) => [
      "--tier",
      "2",
      "--yes",
      "--redis-url",
      redisUrl,
      "--prefix",
      prefix,
      "--service",
      "systemd",
      "--heartbeat",
      "systemd",
      "--heartbeat-every",
      every,
    ];
    const prefix = randomPrefix();
    sandbox.standIn("systemctl", `#!/bin/sh\necho "systemctl $*" >> ${JSON.stringify(log)}\nexit 0\n`);
    env.GATEWAY_SETUP_TEST_SERVICE_MANAGER = "systemd";
    const first = await runCli(args("1m"), { env });
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const unitDir = join(sandbox.home, ".config/systemd/user");
    const older = serviceFiles(unitDir);
    const installed = calls(log).length;

    sandbox.standIn(
      "systemctl",
      `#!/bin/sh\necho "systemctl $*" >> ${JSON.stringify(log)}\ncase "$*" in *restart*tripwire*) echo "Failed to restart" >&2; exit 5;; esac\nexit 0\n`,
    );
    const again = await runCli(args("2m"), { env });
    expect(again.code).toBe(1);
    // the central unit does not change with the interval, so it is left alone; each timer is loaded by its own part
    const units = [`${unit}-heartbeat.timer`, `${unit}-tripwire.timer`];
    expect(calls(log).slice(installed)).toEqual([
      ...units.flatMap((u) => [
        `systemctl --user is-enabled ${u}`,
        "systemctl --user daemon-reload",
        "systemctl --user daemon-reload",
        `systemctl --user enable ${u}`,
        `systemctl --user restart ${u}`,
      ]),
      // rollback: the new units go, the older files come back, systemd reloads them and starts them again
      ...[...units].reverse().flatMap((u) => [`systemctl --user disable --now ${u}`, "systemctl --user daemon-reload", `systemctl --user enable --now ${u}`]),
    ]);
    expect(serviceFiles(unitDir)).toEqual(older);
  });

  it("launchd: the older jobs are bootstrapped again from the older plists", async () => {
    const { sandbox, env, log } = tier2Sandbox();
    const prefix = randomPrefix();
    const args = (every: string) => [
      "--tier",
      "2",
      "--yes",
      "--redis-url",
      redisUrl,
      "--prefix",
      prefix,
      "--service",
      "launchd",
      "--heartbeat",
      "launchd",
      "--heartbeat-every",
      every,
    ];
    sandbox.standIn("launchctl", `#!/bin/sh\necho "launchctl $*" >> ${JSON.stringify(log)}\nexit 0\n`);
    env.GATEWAY_SETUP_TEST_SERVICE_MANAGER = "launchd";
    const first = await runCli(args("1m"), { env });
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const agents = join(sandbox.home, "Library/LaunchAgents");
    const older = serviceFiles(agents);
    const installed = calls(log).length;

    sandbox.standIn(
      "launchctl",
      `#!/bin/sh\necho "launchctl $*" >> ${JSON.stringify(log)}\ncase "$*" in enable*tripwire) echo "not permitted" >&2; exit 1;; esac\nexit 0\n`,
    );
    const again = await runCli(args("2m"), { env });
    expect(again.code).toBe(1);
    const domain = `gui/${process.getuid!()}`;
    const job = (suffix: string) => ({ target: `${domain}/${unit}${suffix}`, plist: join(agents, `${unit}${suffix}.plist`) });
    const [central, heartbeat, tripwire] = ["", ".heartbeat", ".tripwire"].map(job) as [ReturnType<typeof job>, ReturnType<typeof job>, ReturnType<typeof job>];
    // the central job's plist does not change with the interval: it is left alone
    expect(
      calls(log)
        .slice(installed)
        .some((call) => call.endsWith(`${central.target}`) || call.endsWith(`${central.plist}`)),
    ).toBe(false);
    expect(calls(log).slice(installed)).toEqual([
      `launchctl bootout ${heartbeat.target}`,
      `launchctl enable ${heartbeat.target}`,
      `launchctl bootstrap ${domain} ${heartbeat.plist}`,
      `launchctl bootout ${tripwire.target}`,
      `launchctl enable ${tripwire.target}`,
      // rollback, newest first: each job's older plist is back before it is bootstrapped again
      `launchctl bootstrap ${domain} ${tripwire.plist}`,
      `launchctl bootout ${heartbeat.target}`,
      `launchctl bootstrap ${domain} ${heartbeat.plist}`,
    ]);
    expect(serviceFiles(agents)).toEqual(older);
  });
});

describe("a re-install that moves the heartbeat elsewhere", () => {
  it("unloads the systemd timer it no longer needs before removing its files; uninstall then leaves home and crontab as they were", async () => {
    const { sandbox, env, log } = tier2Sandbox();
    sandbox.standIn("systemctl", `#!/bin/sh\necho "systemctl $*" >> ${JSON.stringify(log)}\nexit 0\n`);
    env.GATEWAY_SETUP_TEST_SERVICE_MANAGER = "systemd";
    const crontabFile = join(sandbox.bin, "crontab.txt");
    const original = "0 3 * * * /usr/local/bin/backup\n";
    writeFileSync(crontabFile, original);
    sandbox.standIn("crontab", `#!/bin/sh\nF=${JSON.stringify(crontabFile)}\ncase "$1" in\n-l) cat "$F";;\n-r) rm -f "$F";;\n-) cat > "$F";;\nesac\n`);
    const before = snapshotTree(sandbox.home);
    const unit = "dev.gateway-setup.pi-central";
    const setup = (heartbeat: string) =>
      runCli(
        [
          "--tier",
          "2",
          "--yes",
          "--json",
          "--redis-url",
          redisUrl,
          "--prefix",
          "switch",
          "--service",
          "systemd",
          "--heartbeat",
          heartbeat,
          "--heartbeat-every",
          "1m",
        ],
        { env },
      );
    expect((await setup("systemd")).code).toBe(0);
    const installed = calls(log).length;
    const moved = await setup("cron");
    expect(moved.code, moved.stdout).toBe(0);
    expect(calls(log).slice(installed)).toContain(`systemctl --user disable --now ${unit}-heartbeat.timer`);
    expect(existsSync(join(sandbox.home, `.config/systemd/user/${unit}-heartbeat.timer`))).toBe(false);
    expect(readCronEntries(readFileSync(crontabFile, "utf8"))).toHaveLength(1);
    expect((await runCli(["uninstall", "--yes"], { env })).code).toBe(0);
    expect(snapshotTree(sandbox.home)).toEqual(before);
    expect(readFileSync(crontabFile, "utf8")).toBe(original);
  });
});

describe("tier 2 with cron and no service manager", () => {
  it("adds its crontab block without touching the rest, the entry lands a heartbeat, doctor --fix re-adds it, uninstall restores the crontab", async () => {
    const { sandbox, env } = tier2Sandbox();
    const crontabFile = join(sandbox.bin, "crontab.txt");
    const original = "MAILTO=me@example.com\r\n0 3 * * * /usr/local/bin/backup\r\n# no final newline";
    writeFileSync(crontabFile, original);
    sandbox.standIn(
      "crontab",
      `#!/bin/sh\nF=${JSON.stringify(crontabFile)}\ncase "$1" in\n` +
        `-l) [ -f "$F" ] && cat "$F" && exit 0; echo "no crontab for tester" >&2; exit 1;;\n-r) rm -f "$F";;\n-) cat > "$F";;\nesac\n`,
    );
    // cron is installed but its daemon does not run (a container): setup and doctor say so
    sandbox.standIn("pgrep", "#!/bin/sh\nexit 1\n");
    const prefix = randomPrefix();
    const result = await runCli(
      ["--tier", "2", "--yes", "--json", "--redis-url", redisUrl, "--prefix", prefix, "--service", "none", "--heartbeat", "cron", "--heartbeat-every", "1m"],
      { env },
    );
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.plan.notes.join("\n")).toMatch(/No service manager here.*run-central\.sh/);
    const startCron = `${process.getuid!() === 0 ? "" : "sudo "}service cron start`;
    expect(report.plan.notes.join("\n")).toContain(
      `No cron daemon is running here (a container?): the heartbeat and the tripwire in your crontab will not run until one is. Start it with: ${startCron} (`,
    );
    const noDaemon = JSON.parse((await runCli(["doctor", "--json", "--only", "crontab"], { env })).stdout);
    expect(noDaemon.checks[0]).toMatchObject({
      id: "crontab",
      status: "fail",
      message: expect.stringContaining("but no cron daemon is running"),
      fix: startCron,
    });
    sandbox.standIn("pgrep", `#!/bin/sh\n[ "$*" = "-x cron" ]\n`);
    // nothing runs the central session yet, and a plain `pi` would not consume its queue
    expect(report.verification.find((c: { id: string }) => c.id === "live-session").message).toMatch(/start the central session \(see the note below\)/);
    const crontab = readFileSync(crontabFile, "utf8");
    expect(crontab.startsWith(original)).toBe(true);
    const entries = readCronEntries(crontab)!;
    expect(entries.map((e) => e.schedule)).toEqual(["* * * * *", "* * * * *"]);

    const ran = spawnSync("/usr/bin/env", ["-i", "PATH=/usr/bin:/bin", "/bin/sh", "-c", unescapeAsCron(entries[0]!.command)], { encoding: "utf8" });
    expect(ran.status, ran.stderr).toBe(0);
    const redis = new Redis(redisUrl);
    const raw = await redis.lindex(`${prefix}:events:gateway`, 0);
    expect(parseEvent(raw!)).toMatchObject({ ok: true, event: { type: "cron.heartbeat", source: "cron" } });
    // `main` is still a way in from tier 2 on: doctor watches it too
    await redis.lpush(`${prefix}:events:main`, JSON.stringify({ id: "via-main", type: "t", source: "s", payload: {}, ts: Date.now() }));
    redis.disconnect();
    const queues = JSON.parse((await runCli(["doctor", "--json", "--only", "queue"], { env })).stdout);
    expect(queues.checks[0].message).toContain(`${prefix}:events:main: 1 pending`);

    writeFileSync(crontabFile, original);
    const broken = JSON.parse((await runCli(["doctor", "--json", "--only", "crontab"], { env })).stdout);
    expect(broken.checks[0]).toMatchObject({ id: "crontab", status: "fail", fix: "gateway-setup doctor --fix" });
    const fixed = JSON.parse((await runCli(["doctor", "--json", "--only", "crontab", "--fix"], { env })).stdout);
    expect(fixed.checks[0]).toMatchObject({ status: "ok" });
    expect(readFileSync(crontabFile, "utf8")).toBe(crontab);

    const uninstall = await runCli(["uninstall", "--yes"], { env });
    expect(uninstall.code, uninstall.stderr).toBe(0);
    expect(readFileSync(crontabFile, "utf8")).toBe(original);
  });
});

describe("path flags with a ~ the shell did not expand", () => {
  it("--heartbeat-file=~/HB.md and --project-dir=~/proj mean HOME, not a folder named ~ in the working directory", async () => {
    const { sandbox, env } = tier2Sandbox();
    const cwd = mkdtempSync(join(tmpdir(), "gw-cwd-"));
    // a project dir must exist (setup does not create one silently)
    mkdirSync(join(sandbox.home, "proj"));
    const result = await runCli(
      [
        "--tier",
        "2",
        "--dry-run",
        "--json",
        "--redis-url",
        redisUrl,
        "--service",
        "none",
        "--heartbeat",
        "inngest",
        "--heartbeat-file=~/HB.md",
        "--scope",
        "project",
        "--project-dir=~/proj",
      ],
      { env, cwd },
    );
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const { settings } = JSON.parse(result.stdout).plan;
    expect(settings.heartbeat.checklistFile).toBe(join(sandbox.home, "HB.md"));
    expect(settings.extensionDir).toBe(join(sandbox.home, "proj/.pi/extensions/gateway"));
  });
});

describe("tier 2 when the crontab cannot be read", () => {
  it("names the crontab in the failure, rolls back every file, and exits 1", async () => {
    const { sandbox, env } = tier2Sandbox();
    sandbox.standIn("crontab", `#!/bin/sh\necho "crontab: your crontab is locked" >&2\nexit 3\n`);
    const before = snapshotTree(sandbox.home);
    const result = await runCli(
      ["--tier", "2", "--yes", "--json", "--redis-url", redisUrl, "--prefix", randomPrefix(), "--service", "none", "--heartbeat", "cron"],
      { env },
    );
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report.error.message).toMatch(/^could not update your crontab \(gateway-setup's block in your crontab\): `crontab -l` exited with code 3/);
    expect(report.error.message).toContain("your crontab is locked");
    expect(snapshotTree(sandbox.home)).toEqual(before);
  });
});

describe("tier 3 through the CLI", () => {
  it("installs the multi-session extension, says how satellites report back, and uninstall restores the home", async () => {
    const { sandbox, env } = tier2Sandbox();
    const before = snapshotTree(sandbox.home);
    const prefix = randomPrefix();
    const result = await runCli(["--tier", "3", "--yes", "--redis-url", redisUrl, "--prefix", prefix, "--service", "none", "--heartbeat", "none"], { env });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const said = runningText(result.stdout + result.stderr);
    expect(said).toMatch(
      new RegExp(
        /Every other pi you start joins as a satellite with its own id \(GATEWAY_SESSION_ID in its shell\); /.source +
          /a job it starts reports back to it and to the central session with: npx gateway-setup push job\.done/.source,
      ),
    );
    const entry = readFileSync(join(sandbox.home, ".pi/agent/extensions/gateway/index.ts"), "utf8");
    expect(entry).toMatch(/sessionId: "gateway"/);
    expect(entry).toMatch(/mode: "multi"/);
    const redis = new Redis(redisUrl);
    try {
      expect(await redis.get(`${prefix}:gateway:default`)).toBe("gateway");
    } finally {
      redis.disconnect();
    }
    const uninstall = await runCli(["uninstall", "--yes"], { env });
    expect(uninstall.code, uninstall.stderr).toBe(0);
    expect(snapshotTree(sandbox.home)).toEqual(before);
  });
});
