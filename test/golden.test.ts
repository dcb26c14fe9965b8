// Golden outputs, recorded before the restructure so that it can prove it changed no behaviour:
//  - `gateway-setup --dry-run --json` for a matrix of flags on fixed Linux and macOS machines;
//  - `gateway-setup doctor --json` and `status --json` on a tier 1 and a tier 3 home installed
//    by the built CLI (--yes) against the test redis.
// test/golden/<name>.json holds each output, normalized (see helpers/golden.ts and `variables`
// below). A difference fails with a diff; UPDATE_GOLDEN=1 records the outputs again.
//
// The CLI asks the real machine what it is (detectSystem: platform, uid, systemd, cron daemon) and
// has no switch to pretend otherwise, so the plans run `runSetup` in-process exactly as
// runSetupCommand does (flags parsed by the CLI's own commander program, JSON output), with a fixed
// SystemInfo instead of the detected one. For tier 1, where the machine plays no part, the built
// CLI must print the very same documents.
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { buildProgram } from "../src/cli/main.ts";
import { createJsonOutput } from "../src/cli/output.ts";
import type { SystemInfo } from "../src/core/system.ts";
import { ownVersion } from "../src/platform/package-root.ts";
import { runSetup } from "../src/setup/run.ts";
import type { SetupFlags } from "../src/wizard/flags.ts";
import { createSandbox, REPO_ROOT, runCli, type Sandbox } from "./helpers/cli.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { ALWAYS_VARIABLE, expectGolden, literal, normalize, readGolden, staleGoldenFiles, tempDir, type Variable } from "./helpers/golden.ts";
import { snapshotTree } from "./helpers/tree.ts";

const redisUrl = inject("redisUrl");
const redisPort = new URL(redisUrl).port;
const repoRoot = REPO_ROOT.replace(/\/$/, "");

// ---- the machines --------------------------------------------------------------------------

const LINUX_BINARIES = {
  node: "/usr/bin/node",
  npm: "/usr/bin/npm",
  pi: "/usr/local/bin/pi",
  tmux: "/usr/bin/tmux",
  "redis-cli": "/usr/bin/redis-cli",
  "redis-server": "/usr/bin/redis-server",
  crontab: "/usr/bin/crontab",
  "apt-get": "/usr/bin/apt-get",
  sudo: "/usr/bin/sudo",
  service: "/usr/sbin/service",
};

const SYSTEMS = {
  /** a Linux desktop: systemd user manager, cron daemon running, linger off */
  linux: {
    platform: "linux",
    isRoot: false,
    binaries: { ...LINUX_BINARIES, systemctl: "/usr/bin/systemctl" },
    systemdRunning: true,
    uid: 1000,
    serviceManager: "systemd",
    cronRunning: true,
    lingerOn: false,
  },
  /** a Linux container as root: no service manager, cron installed but its daemon not running */
  container: { platform: "linux", isRoot: true, binaries: LINUX_BINARIES, systemdRunning: false, uid: 0, serviceManager: "none", cronRunning: false },
  /** macOS with Homebrew: launchd */
  macos: {
    platform: "darwin",
    isRoot: false,
    binaries: {
      node: "/opt/homebrew/bin/node",
      npm: "/opt/homebrew/bin/npm",
      pi: "/opt/homebrew/bin/pi",
      tmux: "/opt/homebrew/bin/tmux",
      "redis-cli": "/opt/homebrew/bin/redis-cli",
      brew: "/opt/homebrew/bin/brew",
      launchctl: "/bin/launchctl",
      crontab: "/usr/bin/crontab",
    },
    systemdRunning: false,
    uid: 501,
    serviceManager: "launchd",
    cronRunning: true,
  },
} satisfies Record<string, SystemInfo>;

type SystemName = keyof typeof SYSTEMS;

// ---- the plans -----------------------------------------------------------------------------

/** One HOME for every dry run: nothing is written there (checked at the end). */
const planSandbox = createSandbox();
const planHome = planSandbox.home;
/** the user's environment, no more: no npm cache override, a fixed user name */
const planEnv = { HOME: planHome, PATH: planSandbox.env.PATH!, LANG: "C.UTF-8", USER: "gw-user" };
const PROJECT = "work/app";

interface PlanCase {
  name: string;
  system: SystemName;
  /** the flags after `gateway-setup`; `--dry-run --json` and (unless given) `--redis-url <test redis>` are added */
  args: string[];
  /** the working directory, relative to HOME (default HOME) */
  cwd?: string;
  env?: Record<string, string>;
}

const PLAN_CASES: PlanCase[] = [
  // tier 1: the machine plays no part
  { name: "tier1-defaults", system: "linux", args: ["--tier", "1"] },
  { name: "tier1-project-scope-from-cwd", system: "linux", args: ["--tier", "1", "--scope", "project", "--yes"], cwd: PROJECT },
  {
    name: "tier1-goal-notifications-prefix",
    system: "linux",
    args: ["--goal", "notifications", "--sessions", "one", "--prefix", "ops.gw_1"],
  },
  {
    name: "tier1-macos-project-dir-prefix",
    system: "macos",
    args: ["--tier", "1", "--scope", "project", "--project-dir", "~/work/app", "--prefix", "team-a", "--yes"],
  },
  { name: "tier1-container-agent-dir", system: "container", args: ["--tier", "1"], env: { PI_CODING_AGENT_DIR: join(planHome, "agents/main") } },
  // tier 2 on Linux with systemd
  { name: "tier2-linux-defaults", system: "linux", args: ["--tier", "2"] },
  { name: "tier2-linux-cron-30m", system: "linux", args: ["--tier", "2", "--heartbeat", "cron", "--heartbeat-every", "30m"] },
  {
    name: "tier2-linux-inngest-1h-label",
    system: "linux",
    args: ["--tier", "2", "--heartbeat", "inngest", "--heartbeat-every", "1h", "--service-label", "org.example.agent"],
  },
  {
    name: "tier2-linux-heartbeat-none-project",
    system: "linux",
    args: ["--tier", "2", "--heartbeat", "none", "--scope", "project", "--project-dir", "~/work/app"],
  },
  { name: "tier2-linux-service-none", system: "linux", args: ["--tier", "2", "--service", "none", "--prefix", "team-a"] },
  // tier 2 in a container (no service manager, no cron daemon)
  { name: "tier2-container-defaults", system: "container", args: ["--tier", "2", "--yes"] },
  {
    name: "tier2-container-inngest-heartbeat-file",
    system: "container",
    args: ["--tier", "2", "--heartbeat", "inngest", "--heartbeat-file", "~/notes/HEARTBEAT.md", "--prefix", "team-a"],
  },
  // tier 2 on macOS with launchd
  { name: "tier2-macos-defaults", system: "macos", args: ["--tier", "2"] },
  { name: "tier2-macos-cron-5m", system: "macos", args: ["--tier", "2", "--heartbeat", "cron", "--heartbeat-every", "5m"] },
  { name: "tier2-macos-service-none-inngest", system: "macos", args: ["--tier", "2", "--service", "none", "--heartbeat", "inngest", "--yes"] },
  {
    name: "tier2-macos-goal-always-on-project",
    system: "macos",
    args: ["--goal", "always-on", "--scope", "project", "--project-dir", "~/work/app", "--prefix", "team-a"],
  },
  // tier 3
  { name: "tier3-linux-defaults", system: "linux", args: ["--tier", "3"] },
  {
    name: "tier3-linux-goal-several-cron",
    system: "linux",
    args: ["--goal", "always-on", "--sessions", "several", "--heartbeat", "cron", "--service", "systemd"],
  },
  { name: "tier3-container-heartbeat-none", system: "container", args: ["--tier", "3", "--heartbeat", "none"] },
  {
    name: "tier3-macos-1h-label-prefix",
    system: "macos",
    args: ["--tier", "3", "--heartbeat-every", "1h", "--service-label", "com.example.gateway", "--prefix", "team-a"],
  },
  { name: "tier3-macos-project-heartbeat-none", system: "macos", args: ["--tier", "3", "--scope", "project", "--heartbeat", "none"], cwd: PROJECT },
  // a dry run plans without a Redis that answers, and its plan says what it could not check (a real run stops there)
  { name: "tier1-redis-unreachable-dry-run", system: "linux", args: ["--tier", "1", "--redis-url", "redis://127.0.0.1:1", "--yes"] },
  { name: "tier2-macos-redis-unreachable-dry-run", system: "macos", args: ["--tier", "2", "--redis-url", "redis://127.0.0.1:1"] },
  // refused before anything is planned: usage errors (exit 2), including a service manager or a heartbeat
  // this machine does not have (once accepted, then failing when the plan loaded units with a tool the
  // machine lacks: launchctl on Linux, systemctl on macOS)
  { name: "refused-service-systemd-on-macos", system: "macos", args: ["--tier", "2", "--service", "systemd"] },
  { name: "refused-service-launchd-on-linux", system: "linux", args: ["--tier", "2", "--service", "launchd"] },
  { name: "refused-tier1-with-tier2-flags", system: "linux", args: ["--tier", "1", "--heartbeat", "cron", "--service", "none"] },
  { name: "refused-tier4-without-token", system: "linux", args: ["--tier", "4"] },
  { name: "refused-tier-conflicts-with-goal", system: "linux", args: ["--tier", "2", "--goal", "notifications"] },
  { name: "refused-bad-prefix", system: "linux", args: ["--tier", "1", "--prefix", "a b"] },
  { name: "refused-launchd-on-linux", system: "linux", args: ["--tier", "2", "--heartbeat", "launchd"] },
  { name: "refused-systemd-heartbeat-on-macos", system: "macos", args: ["--tier", "2", "--heartbeat", "systemd"] },
  { name: "refused-cron-every-7m", system: "container", args: ["--tier", "2", "--heartbeat", "cron", "--heartbeat-every", "7m"] },
];

const dryRunArgs = (args: string[]) => ["--dry-run", "--json", ...(args.includes("--redis-url") ? [] : ["--redis-url", redisUrl]), ...args];

/** The flags exactly as the CLI's commander program parses them, without running its action. */
async function parseSetupFlags(args: string[]): Promise<SetupFlags> {
  let flags: SetupFlags | undefined;
  await buildProgram()
    .action((parsed: SetupFlags) => void (flags = parsed))
    .parseAsync(args, { from: "user" });
  return flags!;
}

interface Recorded {
  command: string;
  exitCode: number | null;
  output: unknown;
}

/** `gateway-setup <args>` in-process on `system`: what runSetupCommand does, with that SystemInfo instead of the detected one. */
async function dryRunInProcess(args: string[], options: { system: SystemInfo; env: Record<string, string>; cwd: string }): Promise<Recorded> {
  let printed = "";
  const exitCode = await runSetup({
    flags: await parseSetupFlags(args),
    env: options.env,
    cwd: options.cwd,
    isTTY: false,
    output: createJsonOutput((text) => (printed += text)),
    system: options.system,
    invocation: ["gateway-setup", ...args].join(" "),
  });
  return { command: ["gateway-setup", ...args].join(" "), exitCode, output: JSON.parse(printed) };
}

/** `gateway-setup <args>` run by the built CLI, as a user would. */
async function recordCli(args: string[], options: { env: Record<string, string>; cwd?: string }): Promise<Recorded> {
  const result = await runCli(args, options);
  return { command: ["gateway-setup", ...args].join(" "), exitCode: result.code, output: JSON.parse(result.stdout) };
}

/**
 * The extension's code is the package's built bundle (rebuilt whenever src/runtime changes): a
 * copy identical to dist's is recorded as what it is, not as its 380 kB. One that differs keeps
 * its text, and so shows in the diff.
 */
function withBundleNamed(output: unknown): unknown {
  const plan = (output as { plan?: { steps: { kind: string; path?: string; contents?: string }[] } }).plan;
  const built = readFileSync(join(repoRoot, "dist/runtime/gateway-extension.mjs"), "utf8");
  for (const step of plan?.steps ?? []) {
    if (step.kind === "file" && step.contents === built) step.contents = "<dist/runtime/gateway-extension.mjs as built>";
  }
  return output;
}

/** What varies between runs and machines, and the placeholder it becomes; applied in this order. */
function variables(sandbox: Sandbox, prefix?: string): Variable[] {
  return [
    ...tempDir("the sandbox HOME", sandbox.home, "<HOME>"),
    ...tempDir("the sandbox's stand-in bin dir", sandbox.bin, "<BIN>"),
    ...tempDir("the sandbox's private tmux dir", sandbox.env.TMUX_TMPDIR!, "<TMUX_TMPDIR>"),
    literal("this checkout", repoRoot, "<REPO>"),
    literal("the test redis-server's port", `127.0.0.1:${redisPort}`, "127.0.0.1:<PORT>"),
    ...(prefix ? [literal("the random key prefix of an installed home", prefix, "<PREFIX>", true)] : []),
    literal("gateway-setup's own version", ownVersion(), "<VERSION>", true),
    ...ALWAYS_VARIABLE,
  ];
}

const normalized = (recorded: Recorded, vars: Variable[]) => normalize({ ...recorded, output: withBundleNamed(recorded.output) }, vars);

describe("golden --dry-run --json plans", () => {
  const planVariables = variables(planSandbox);
  mkdirSync(join(planHome, PROJECT), { recursive: true });
  const homeBefore = snapshotTree(planHome);

  it.each(PLAN_CASES)("$name", async ({ name, system, args, cwd, env }) => {
    const recorded = await dryRunInProcess(dryRunArgs(args), { system: SYSTEMS[system], env: { ...planEnv, ...env }, cwd: join(planHome, cwd ?? "") });
    expectGolden(`plan-${name}`, { system, ...normalized(recorded, planVariables) });
  });

  it("the built CLI prints the same tier 1 plans (the machine plays no part there)", async () => {
    const tier1 = PLAN_CASES.filter((c) => c.name.startsWith("tier1-") && c.system !== "macos");
    const printed = await Promise.all(
      tier1.map(({ args, cwd, env }) => recordCli(dryRunArgs(args), { env: { ...planEnv, ...env }, cwd: join(planHome, cwd ?? "") })),
    );
    tier1.forEach(({ name, system }, i) => {
      expect({ system, ...normalized(printed[i]!, planVariables) }, `plan-${name}`).toEqual(readGolden(`plan-${name}`));
    });
  });

  it("no dry run wrote anything", () => {
    expect(snapshotTree(planHome)).toEqual(homeBefore);
  });
});

// ---- doctor and status on installed homes --------------------------------------------------

interface InstalledHome {
  sandbox: Sandbox;
  env: Record<string, string>;
  prefix: string;
}

/** A sandbox with the repo's pi on PATH, a file-backed crontab and a cron daemon that "runs" (pgrep). */
function installSandbox(): InstalledHome {
  const sandbox = createSandbox();
  const crontab = join(sandbox.bin, "crontab.txt");
  sandbox.standIn(
    "crontab",
    `#!/bin/sh\nF=${JSON.stringify(crontab)}\ncase "$1" in\n` +
      `-l) [ -f "$F" ] && cat "$F" && exit 0; echo "no crontab for gw-user" >&2; exit 1;;\n-r) rm -f "$F";;\n-) cat > "$F";;\nesac\n`,
  );
  sandbox.standIn("pgrep", `#!/bin/sh\n[ "$*" = "-x cron" ]\n`);
  const env = { ...sandbox.env, PATH: `${sandbox.bin}:${join(repoRoot, "node_modules/.bin")}:${process.env.PATH}`, USER: "gw-user" };
  return { sandbox, env, prefix: randomPrefix() };
}

const INSTALLS = {
  tier1: ["--tier", "1"],
  // --service none: no launchd or systemd to stand in for; the default 15m keeps the heartbeat check from turning overdue
  tier3: ["--tier", "3", "--service", "none", "--heartbeat", "cron"],
} as const;

type InstallName = keyof typeof INSTALLS;
const REPORTS = ["doctor", "status"] as const;
const REPORT_GOLDENS = (Object.keys(INSTALLS) as InstallName[]).flatMap((name) => REPORTS.map((report) => `${report}-${name}`));

describe("golden doctor --json and status --json on installed homes", () => {
  const homes = {} as Record<InstallName, InstalledHome>;
  /** what doctor and status printed, by golden name: each home installed and asked in turn, the homes side by side */
  const reports = new Map<string, unknown>();

  beforeAll(async () => {
    await Promise.all(
      (Object.keys(INSTALLS) as InstallName[]).map(async (name) => {
        const home = (homes[name] = installSandbox());
        const install = await runCli([...INSTALLS[name], "--yes", "--json", "--redis-url", redisUrl, "--prefix", home.prefix], { env: home.env });
        expect(install.code, `install ${name}: ${install.stdout}${install.stderr}`).toBe(0);
        for (const report of REPORTS) {
          const recorded = await recordCli([report, "--json"], { env: home.env });
          reports.set(`${report}-${name}`, {
            home: `installed by gateway-setup ${INSTALLS[name].join(" ")} --yes`,
            ...normalize(recorded, variables(home.sandbox, home.prefix)),
          });
        }
      }),
    );
  });

  it.each(REPORT_GOLDENS)("%s", (name) => expectGolden(name, reports.get(name)));

  it("re-planning the tier 1 home with no flags: everything unchanged (the built CLI)", async () => {
    const { sandbox, env, prefix } = homes.tier1;
    const recorded = await recordCli(["--dry-run", "--json"], { env });
    expectGolden("plan-installed-tier1-again", normalized(recorded, variables(sandbox, prefix)));
  });

  it("re-planning the tier 1 home as tier 2 in a project: replaces it and takes the global extension back", async () => {
    const { sandbox, env, prefix } = homes.tier1;
    mkdirSync(join(sandbox.home, PROJECT), { recursive: true });
    const args = ["--dry-run", "--json", "--tier", "2", "--scope", "project", "--service", "none", "--heartbeat", "inngest"];
    const recorded = await dryRunInProcess(args, { system: SYSTEMS.container, env, cwd: join(sandbox.home, PROJECT) });
    expectGolden("plan-installed-tier1-to-tier2-project", { system: "container", ...normalized(recorded, variables(sandbox, prefix)) });
  });

  afterAll(() => {
    for (const { sandbox } of Object.values(homes)) removeSandbox(sandbox);
  });
});

describe("golden files", () => {
  it("every golden file belongs to a case", () => {
    const names = [...PLAN_CASES.map((c) => `plan-${c.name}`), "plan-installed-tier1-again", "plan-installed-tier1-to-tier2-project", ...REPORT_GOLDENS];
    expect(staleGoldenFiles(names), "golden files no case records: remove them (UPDATE_GOLDEN=1 does)").toEqual([]);
  });
});

function removeSandbox(sandbox: Sandbox): void {
  for (const dir of [sandbox.home, sandbox.bin, sandbox.env.TMUX_TMPDIR!]) rmSync(dir, { recursive: true, force: true });
}

afterAll(() => removeSandbox(planSandbox));
