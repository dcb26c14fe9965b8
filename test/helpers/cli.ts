// Runs the built CLI (bin/gateway-setup.js) as a user would, in a temp HOME.
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { REPO_ROOT } from "./pi-rpc.ts";

export { REPO_ROOT };
export const CLI = join(REPO_ROOT, "bin/gateway-setup.js");

/**
 * npm settings for tests: a cache outside the temp HOME (so HOME stays byte-comparable), prefer it.
 * The cache is kept across runs on purpose, the one thing a test run leaves in the temp dir: it is
 * not under the run's own temp dir (test/global-setup.ts), which goes at the end of the run.
 */
export const TEST_NPM_ENV = {
  npm_config_cache: join(process.env.GATEWAY_TEST_CACHE_DIR ?? tmpdir(), "gateway-setup-test-npm-cache"),
  npm_config_prefer_offline: "true",
  npm_config_update_notifier: "false",
};

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Sandbox {
  home: string;
  bin: string;
  env: Record<string, string>;
  /** puts an executable script first on PATH */
  standIn(name: string, script: string): void;
}

export const BLOCKED_SYSTEM_TOOLS = ["apt-get", "brew", "sudo", "service", "systemctl", "launchctl", "crontab", "loginctl"];

/** A temp HOME with a stand-in bin dir first on PATH; nothing points at the real home or services. */
export function createSandbox(): Sandbox {
  const home = mkdtempSync(join(tmpdir(), "gw-home-"));
  const bin = mkdtempSync(join(tmpdir(), "gw-bin-"));
  const env: Record<string, string> = {
    HOME: home,
    PATH: `${bin}:${process.env.PATH}`,
    LANG: "C.UTF-8",
    // a private tmux server: nothing the CLI does can reach the developer's own tmux sessions
    TMUX_TMPDIR: mkdtempSync(join(tmpdir(), "gw-tmux-")),
    // the CLI's own temp files go where the test run's do (removed with them, see test/global-setup.ts)
    TMPDIR: tmpdir(),
    ...TEST_NPM_ENV,
  };
  const sandbox: Sandbox = {
    home,
    bin,
    env,
    standIn(name, script) {
      mkdirSync(bin, { recursive: true });
      writeFileSync(join(bin, name), script);
      chmodSync(join(bin, name), 0o755);
    },
  };
  // no test may reach the machine's real package managers or service managers by accident
  for (const name of BLOCKED_SYSTEM_TOOLS) {
    sandbox.standIn(name, `#!/bin/sh\necho "test stand-in: the real ${name} is blocked in tests" >&2\nexit 97\n`);
  }
  return sandbox;
}

export function runCli(args: string[], options: { env: Record<string, string>; cwd?: string; input?: string; timeoutMs?: number }): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd ?? options.env.HOME,
      env: options.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.stdin.end(options.input ?? "");
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`gateway-setup ${args.join(" ")} did not finish in time\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 120_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** The CLI's human output as running text: clack's gutters gone and wrapped lines joined, for matching phrases. */
export function runningText(output: string): string {
  return output.replace(/[│┌└◇◆●▲■]/g, " ").replace(/\s+/g, " ");
}

/**
 * A pattern for `text` as it reads in runningText(): the CLI splits a word longer than the line (a
 * path under a long temp dir) and runningText() joins the pieces with a space, so one may stand
 * between any two characters.
 */
export function acrossLineBreaks(text: string): string {
  return [...text].map((char) => char.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")).join(" ?");
}
