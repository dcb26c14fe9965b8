// Flags and answers checked against this machine before anything is written (issue 14, items 2, 3,
// 4 and 7): setup runs in-process exactly as the CLI does (its own commander program parses the
// flags, JSON output), on fixed Linux, container and macOS machines, in a temp HOME, against the
// test run's redis-server.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "../src/cli/exit-codes.ts";
import { buildProgram } from "../src/cli/main.ts";
import { createJsonOutput } from "../src/cli/output.ts";
import type { SystemInfo } from "../src/core/system.ts";
import { runSetup } from "../src/setup/run.ts";
import type { SetupFlags } from "../src/wizard/flags.ts";
import { createScriptedPrompter } from "../src/wizard/scripted-prompter.ts";
import { createSandbox, runCli } from "./helpers/cli.ts";
import { snapshotTree } from "./helpers/tree.ts";

const redisUrl = inject("redisUrl");

const BINARIES = {
  node: "/usr/bin/node",
  npm: "/usr/bin/npm",
  pi: "/usr/local/bin/pi",
  tmux: "/usr/bin/tmux",
  "redis-cli": "/usr/bin/redis-cli",
  crontab: "/usr/bin/crontab",
  systemctl: "/usr/bin/systemctl",
  launchctl: "/bin/launchctl",
};
const SYSTEMS = {
  linux: { platform: "linux", isRoot: false, binaries: BINARIES, systemdRunning: true, uid: 1000, serviceManager: "systemd", cronRunning: true },
  container: { platform: "linux", isRoot: true, binaries: BINARIES, systemdRunning: false, uid: 0, serviceManager: "none" },
  macos: { platform: "darwin", isRoot: false, binaries: BINARIES, systemdRunning: false, uid: 501, serviceManager: "launchd", cronRunning: true },
} satisfies Record<string, SystemInfo>;

const homes: string[] = [];
function newHome(): string {
  const home = mkdtempSync(join(tmpdir(), "gw-flags-"));
  homes.push(home);
  return home;
}
afterAll(() => {
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

async function parseFlags(args: string[]): Promise<SetupFlags> {
  let flags: SetupFlags | undefined;
  await buildProgram()
    .action((parsed: SetupFlags) => void (flags = parsed))
    .parseAsync(args, { from: "user" });
  return flags!;
}

interface Run {
  code: number;
  report: { ok: boolean; error?: { message: string; fix?: string }; plan?: { settings: { scope: string; extensionDir: string }; notes: string[] } };
  asked: string[];
}

/** `gateway-setup --json <args>` (with the test Redis unless --redis-url is given) in `home` on `system`. */
async function setup(
  args: string[],
  options: { home: string; system?: keyof typeof SYSTEMS; env?: Record<string, string>; interactive?: boolean },
): Promise<Run> {
  let printed = "";
  const prompter = options.interactive ? createScriptedPrompter({}) : undefined;
  const all = ["--json", ...(args.includes("--redis-url") ? [] : ["--redis-url", redisUrl]), ...args];
  const code = await runSetup({
    flags: await parseFlags(all),
    env: { HOME: options.home, PATH: process.env.PATH!, LANG: "C.UTF-8", ...options.env },
    cwd: options.home,
    isTTY: Boolean(prompter),
    output: createJsonOutput((text) => (printed += text)),
    ...(prompter ? { prompter } : {}),
    system: SYSTEMS[options.system ?? "linux"],
    invocation: ["gateway-setup", ...all].join(" "),
  });
  return { code, report: JSON.parse(printed), asked: prompter?.asked ?? [] };
}

/** A refusal: exit `code`, a message matching `message`, and HOME exactly as it was. */
async function expectRefused(args: string[], options: Parameters<typeof setup>[1], code: number, message: RegExp): Promise<Run> {
  const before = snapshotTree(options.home);
  const run = await setup(args, options);
  expect(run.code, JSON.stringify(run.report)).toBe(code);
  expect(run.report.ok).toBe(false);
  expect(run.report.error!.message).toMatch(message);
  expect(snapshotTree(options.home)).toEqual(before);
  return run;
}

describe("item 2: the event-sources question is gone", () => {
  it("--sources is an unknown option (it changed nothing), and the wizard does not ask where events come from", async () => {
    const sandbox = createSandbox();
    homes.push(sandbox.home, sandbox.bin, sandbox.env.TMUX_TMPDIR!);
    const result = await runCli(["--tier", "1", "--dry-run", "--sources", "inngest"], { env: sandbox.env });
    expect(result.code).toBe(EXIT_USAGE);
    expect(result.stderr + result.stdout).toMatch(/unknown option '--sources'/);
    const run = await setup(["--dry-run", "--goal", "notifications"], { home: newHome(), interactive: true });
    expect(run.code).toBe(EXIT_OK);
    expect(run.asked).toEqual(["sessions", "scope"]);
  });
});

describe("item 3: a service manager this machine does not have is refused up front", () => {
  it.each([
    ["launchd", "linux", /--service launchd needs launchd, and this machine has a systemd user manager/, /--service systemd/],
    ["systemd", "macos", /--service systemd needs a systemd user manager \(systemctl --user\), and this machine has launchd/, /--service launchd/],
    ["systemd", "container", /and this machine has no service manager/, /--service none/],
    ["launchd", "container", /and this machine has no service manager/, /--service none/],
  ] as const)("--service %s on %s: exit 2, naming what the machine has, before any question", async (service, system, message, fix) => {
    const home = newHome();
    const run = await expectRefused(["--tier", "2", "--yes", "--service", service], { home, system, interactive: true }, EXIT_USAGE, message);
    expect(run.report.error!.fix).toMatch(fix);
    expect(run.asked).toEqual([]);
  });

  it("the service manager the machine has, and none, are planned", async () => {
    for (const [service, system] of [
      ["systemd", "linux"],
      ["launchd", "macos"],
      ["none", "linux"],
      ["none", "container"],
    ] as const) {
      const run = await setup(["--tier", "2", "--dry-run", "--service", service], { home: newHome(), system });
      expect(run.code, JSON.stringify(run.report.error)).toBe(EXIT_OK);
    }
  });

  it("a heartbeat the service manager cannot run is a usage error too", async () => {
    await expectRefused(
      ["--tier", "2", "--dry-run", "--heartbeat", "launchd"],
      { home: newHome() },
      EXIT_USAGE,
      /needs launchd, and this machine has a systemd/,
    );
    await expectRefused(
      ["--tier", "2", "--dry-run", "--service", "none", "--heartbeat", "systemd"],
      { home: newHome() },
      EXIT_USAGE,
      /--heartbeat systemd needs a systemd user manager .*, and this run uses --service none/,
    );
  });
});

describe("item 4: paths a file URL cannot carry are refused before anything is written", () => {
  const CHARACTERS = [
    ["#", '"#"'],
    ["%", '"%"'],
    ["?", '"?"'],
    ["\t", "a tab"],
    ["\n", "a newline"],
    ["\\", "a backslash"],
  ] as const;

  it.each(CHARACTERS)("an agent dir with %j (PI_CODING_AGENT_DIR): exit 2, naming it and the path", async (char, named) => {
    const home = newHome();
    const agent = join(home, `agents/C${char}x`);
    const run = await expectRefused(["--tier", "1", "--yes"], { home, env: { PI_CODING_AGENT_DIR: agent } }, EXIT_USAGE, new RegExp(`contains ${named}`));
    expect(run.report.error!.message).toContain(`the agent dir ${JSON.stringify(agent)}`);
    expect(run.report.error!.fix).toMatch(/PI_CODING_AGENT_DIR/);
  });

  it("an agent dir under a HOME with # (no PI_CODING_AGENT_DIR) is refused the same way", async () => {
    const home = join(newHome(), "C#");
    mkdirSync(home);
    await expectRefused(["--tier", "1", "--yes"], { home }, EXIT_USAGE, /the agent dir ".*C#\/\.pi\/agent" contains "#"/);
  });

  it.each(CHARACTERS)("a --project-dir with %j: exit 2, naming it and the path", async (char, named) => {
    const home = newHome();
    const project = join(home, `code/C${char}app`);
    mkdirSync(project, { recursive: true });
    const run = await expectRefused(["--tier", "1", "--yes", "--project-dir", project], { home }, EXIT_USAGE, new RegExp(`contains ${named}`));
    expect(run.report.error!.message).toContain(`the project dir ${JSON.stringify(project)}`);
    expect(run.report.error!.fix).toMatch(/--project-dir|--scope global/);
  });
});

describe("item 7: flags and files", () => {
  it("--project-dir means --scope project, and contradicts --scope global", async () => {
    const home = newHome();
    const project = join(home, "work/app");
    mkdirSync(project, { recursive: true });
    const run = await setup(["--tier", "1", "--dry-run", "--project-dir", project], { home });
    expect(run.code).toBe(EXIT_OK);
    expect(run.report.plan!.settings).toMatchObject({ scope: "project", extensionDir: join(project, ".pi/extensions/gateway") });
    await expectRefused(
      ["--tier", "1", "--dry-run", "--scope", "global", "--project-dir", project],
      { home },
      EXIT_USAGE,
      /--project-dir contradicts --scope global/,
    );
  });

  it("a --project-dir that does not exist is refused, not created", async () => {
    const home = newHome();
    const missing = join(home, "work/typo");
    const run = await expectRefused(["--tier", "1", "--yes", "--project-dir", missing], { home }, EXIT_USAGE, /does not exist/);
    expect(run.report.error!.message).toBe(`the project dir ${missing} does not exist`);
    expect(run.report.error!.fix).toContain(`mkdir -p ${missing}`);
    writeFileSync(join(home, "a-file"), "");
    await expectRefused(["--tier", "1", "--yes", "--project-dir", join(home, "a-file")], { home }, EXIT_USAGE, /is not a directory/);
  });

  it("a read-only project dir: exit 1 before anything is written, and the fix names the project dir, not PI_CODING_AGENT_DIR", async () => {
    const home = newHome();
    const project = join(home, "work/app");
    mkdirSync(project, { recursive: true });
    // root ignores mode bits; the immutable flag stops root too (fall back to 0555 elsewhere)
    const locked = spawnSync("chattr", ["+i", project]).status === 0;
    if (!locked) spawnSync("chmod", ["0555", project]);
    try {
      const run = await expectRefused(["--tier", "1", "--yes", "--project-dir", project], { home }, EXIT_FAILED, /is not writable/);
      expect(run.report.error!.message).toContain(`cannot write ${join(project, ".pi/extensions/gateway")}: ${project} is not writable`);
      expect(run.report.error!.fix).toContain(`make ${project} writable`);
      expect(run.report.error!.fix).not.toMatch(/PI_CODING_AGENT_DIR/);
    } finally {
      if (locked) spawnSync("chattr", ["-i", project]);
      else spawnSync("chmod", ["0755", project]);
    }
  });

  it.each([
    ["a directory", (home: string) => home, /is a directory/],
    ["/dev/null", () => "/dev/null", /\/dev\/null is not a regular file/],
    ["a path under a file", (home: string) => (writeFileSync(join(home, "notes"), ""), join(home, "notes/HB.md")), /notes is a file, not a directory/],
  ])("--heartbeat-file naming %s: a usage error (exit 2)", async (_what, path, message) => {
    const home = newHome();
    const run = await expectRefused(["--tier", "2", "--dry-run", "--heartbeat-file", path(home)], { home }, EXIT_USAGE, message);
    expect(run.report.error!.fix).toMatch(/--heartbeat-file/);
  });

  it.each(["1s", "10s", "7m", "48h", "99999h"])("--heartbeat-every %s, which cron cannot keep: a usage error (exit 2)", async (every) => {
    await expectRefused(
      ["--tier", "2", "--dry-run", "--heartbeat-every", every],
      { home: newHome(), system: "container" },
      EXIT_USAGE,
      new RegExp(`cron cannot run every ${every}`),
    );
  });

  it("--heartbeat none with --heartbeat-every or --heartbeat-file: the contradiction is refused", async () => {
    await expectRefused(
      ["--tier", "2", "--dry-run", "--heartbeat", "none", "--heartbeat-every", "7m"],
      { home: newHome() },
      EXIT_USAGE,
      /--heartbeat-every 7m has nothing/,
    );
    await expectRefused(
      ["--tier", "2", "--dry-run", "--heartbeat", "none", "--heartbeat-file", "/tmp/HB.md"],
      { home: newHome() },
      EXIT_USAGE,
      /--heartbeat-file has nothing to do/,
    );
  });

  it("--dry-run plans without a Redis that answers, and the plan says what it could not check", async () => {
    const home = newHome();
    const run = await setup(["--tier", "1", "--dry-run", "--redis-url", "redis://127.0.0.1:1"], { home });
    expect(run.code).toBe(EXIT_OK);
    expect(run.report.ok).toBe(true);
    expect(run.report.plan!.notes[0]).toMatch(/^Not checked \(dry run\): Redis at redis:\/\/127\.0\.0\.1:1\. no Redis answered .* A real run stops here; /);
    expect(snapshotTree(home)).toEqual({});
    // a real run still stops there
    await expectRefused(["--tier", "1", "--yes", "--no-install-redis", "--redis-url", "redis://127.0.0.1:1"], { home }, EXIT_FAILED, /no Redis answered/);
  });
});
