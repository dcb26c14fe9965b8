// Tier 4's daemon as installed and run by a user: a temp HOME holding a hermetic pi agent dir (the
// fake model), `<agentDir>/gateway/daemon.json` and the 0600 secrets file with the bot token, and
// the real CLI (`gateway-setup daemon`) started in it against the fake Bot API.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { DAEMON_CONFIG_FILE, TELEGRAM_TOKEN_KEY } from "../../src/runtime/daemon/daemon-file.ts";
import { CLI, createSandbox, type Sandbox } from "./cli.ts";
import { type FakeModel, writeFakeAgentDir } from "./fake-model.ts";
import type { FakeTelegram } from "./fake-telegram.ts";
import { waitFor } from "./wait.ts";

export interface DaemonInstall {
  sandbox: Sandbox;
  /** the CLI's environment: the temp HOME, pi offline, nothing of the token */
  env: Record<string, string>;
  agentDir: string;
  stateDir: string;
  configPath: string;
  secretsFile: string;
  prefix: string;
  cleanup(): void;
}

/** Writes what setup installs for tier 4 (the parts the daemon reads) into a fresh temp HOME. */
export function installDaemon(
  model: FakeModel,
  fake: FakeTelegram,
  options: {
    prefix: string;
    redisUrl: string;
    telegram: Record<string, unknown>;
    /** more config fields, given the agent and state dirs */
    config?: (dirs: { agentDir: string; stateDir: string }) => Record<string, unknown>;
  },
): DaemonInstall {
  const sandbox = createSandbox();
  const agentDir = join(sandbox.home, ".pi", "agent");
  const stateDir = join(agentDir, "gateway");
  const modelArg = writeFakeAgentDir(agentDir, model);
  writeFileSync(join(agentDir, "settings.json"), JSON.stringify({ retry: { enabled: false } }));
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const secretsFile = join(stateDir, "secrets.env");
  writeFileSync(secretsFile, `${TELEGRAM_TOKEN_KEY}='${fake.token}'\n`, { mode: 0o600 });
  const configPath = join(stateDir, DAEMON_CONFIG_FILE);
  const config = {
    prefix: options.prefix,
    redisUrl: options.redisUrl,
    secretsFile,
    agentDir,
    stateDir,
    model: modelArg,
    pollIntervalMs: 1000,
    ...options.config?.({ agentDir, stateDir }),
    telegram: { apiRoot: `${fake.apiRoot}/`, pollTimeoutSeconds: 10, initialBackoffMs: 200, maxBackoffMs: 1000, ...options.telegram },
  };
  writeFileSync(configPath, JSON.stringify(config, null, 2), { mode: 0o600 });
  const env = { ...sandbox.env, PI_CODING_AGENT_DIR: agentDir, PI_OFFLINE: "1", PI_TELEMETRY: "0" };
  return {
    sandbox,
    env,
    agentDir,
    stateDir,
    configPath,
    secretsFile,
    prefix: options.prefix,
    cleanup: () => {
      for (const dir of [sandbox.home, sandbox.bin, sandbox.env.TMUX_TMPDIR!]) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface DaemonRun {
  child: ChildProcess;
  pid: number;
  /** everything it wrote to stderr so far */
  stderr(): string;
  /** resolves with the exit code (null when killed by a signal) */
  exited: Promise<number | null>;
  /** /proc/<pid>/cmdline read while it ran (Linux), "" elsewhere */
  cmdline: string;
}

const running = new Set<ChildProcess>();
/** every daemon started, for the token check */
export const allDaemonRuns: DaemonRun[] = [];

/** `gateway-setup daemon --config <path>`; resolves once it logged that it runs (or rejects when it exited first). */
export async function startDaemonCli(install: DaemonInstall, options: { waitReady?: boolean } = {}): Promise<DaemonRun> {
  const child = spawn(process.execPath, [CLI, "daemon", "--config", install.configPath], {
    cwd: install.sandbox.home,
    env: install.env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  running.add(child);
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const run: DaemonRun = { child, pid: child.pid!, stderr: () => stderr, exited, cmdline: "" };
  allDaemonRuns.push(run);
  if (options.waitReady === false) return run;
  let gone = false;
  void exited.then(() => (gone = true));
  await waitFor(
    () => gone || run.stderr().includes("gateway daemon: running ("),
    () => `the daemon to start; stderr: ${run.stderr()}`,
    30_000,
  );
  if (gone) throw new Error(`the daemon exited while starting (code ${child.exitCode}); stderr: ${run.stderr()}`);
  try {
    run.cmdline = readFileSync(`/proc/${run.pid}/cmdline`, "utf8");
  } catch {
    // not Linux
  }
  return run;
}

/** SIGKILLs every daemon still running (a failed test's leftovers). */
export function killAllDaemons(): void {
  for (const child of running) child.kill("SIGKILL");
}

/** Files under `root` whose bytes contain `needle`, as paths relative to root. */
export function filesContaining(root: string, needle: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const stat = statSync(path, { throwIfNoEntry: false });
      if (!stat) continue;
      if (stat.isDirectory()) walk(path);
      else if (stat.isFile() && readFileSync(path).includes(needle)) found.push(relative(root, path));
    }
  };
  walk(root);
  return found;
}
