// The one adapter through which every system binary (npm, redis-cli, brew, apt-get, crontab,
// launchctl, systemctl, tmux...) is found and run. Binaries resolve through PATH at call time,
// so tests put recording stand-ins first on PATH.
import { accessSync, constants, statSync } from "node:fs";
import { createRequire } from "node:module";
import { delimiter, isAbsolute, join } from "node:path";

// node:child_process (with dgram and its sockets) loads when a binary first runs: a doctor that
// runs none starts ~1.5 ms sooner
let childProcess: typeof import("node:child_process") | undefined;
const loadChildProcess = () => (childProcess ??= createRequire(import.meta.url)("node:child_process") as typeof import("node:child_process"));

export type Env = Record<string, string | undefined>;

export function which(binary: string, env: Env = process.env): string | undefined {
  if (isAbsolute(binary)) return isExecutable(binary) ? binary : undefined;
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, binary);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface RunOptions {
  cwd?: string;
  env?: Env;
  /** text written to the child's stdin (then closed) */
  input?: string;
  timeoutMs?: number;
  /**
   * "inherit" lets the user see (and answer, e.g. sudo) the command; "stderr" does the same but
   * sends the command's output to our stderr (when our stdout is reserved for JSON); default "pipe"
   */
  stdio?: "pipe" | "inherit" | "stderr";
  /** aborting kills the child (SIGTERM) */
  signal?: AbortSignal;
}

export interface RunResult {
  command: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export class CommandNotFoundError extends Error {
  constructor(readonly binary: string) {
    super(`${binary} was not found on PATH`);
  }
}

/** Process groups of our own (detached) children still running: they would not die with us. */
const runningGroups = new Set<number>();
process.once("exit", () => {
  for (const pid of runningGroups) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

export async function run(binary: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const env = options.env ?? process.env;
  const resolved = which(binary, env);
  if (!resolved) throw new CommandNotFoundError(binary);
  const inherit = options.stdio === "inherit" || options.stdio === "stderr";
  const out = options.stdio === "stderr" ? process.stderr : "inherit";
  // A piped child gets its own process group so a timeout or cancel can stop everything it
  // started; an interactive one stays in the terminal's foreground group (sudo may ask there).
  const child = loadChildProcess().spawn(resolved, args, {
    cwd: options.cwd,
    env: env as NodeJS.ProcessEnv,
    detached: !inherit,
    stdio: [options.input === undefined ? (inherit ? "inherit" : "ignore") : "pipe", inherit ? out : "pipe", inherit ? "inherit" : "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  if (options.input !== undefined) child.stdin?.end(options.input);
  const kill = (signal: NodeJS.Signals) => {
    try {
      if (!inherit && child.pid) process.kill(-child.pid, signal);
      else child.kill(signal);
    } catch {
      // already gone
    }
  };
  // what does not stop on SIGTERM within a few seconds is killed
  const stop = () => {
    kill("SIGTERM");
    setTimeout(() => kill("SIGKILL"), 3000).unref();
  };
  if (!inherit && child.pid) runningGroups.add(child.pid);
  const forget = () => child.pid && runningGroups.delete(child.pid);
  let timedOut = false;
  const timer = options.timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        stop();
      }, options.timeoutMs)
    : undefined;
  const onAbort = stop;
  options.signal?.addEventListener("abort", onAbort, { once: true });
  return new Promise((resolve, reject) => {
    child.once("error", (error) => {
      clearTimeout(timer);
      forget();
      options.signal?.removeEventListener("abort", onAbort);
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      forget();
      options.signal?.removeEventListener("abort", onAbort);
      resolve({ command: [binary, ...args], code, signal, stdout, stderr, timedOut });
    });
  });
}

/**
 * `run` for the few probes that must answer at once (what the machine looks like, before any plan
 * is made): no stdin, output piped, killed after `timeoutMs`.
 */
export function runSync(binary: string, args: string[], options: { env?: Env; timeoutMs?: number } = {}): RunResult {
  const env = options.env ?? process.env;
  const resolved = which(binary, env);
  if (!resolved) throw new CommandNotFoundError(binary);
  const result = loadChildProcess().spawnSync(resolved, args, {
    env: env as NodeJS.ProcessEnv,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: options.timeoutMs,
    killSignal: "SIGKILL",
  });
  const timedOut = (result.error as NodeJS.ErrnoException | undefined)?.code === "ETIMEDOUT";
  if (result.error && !timedOut) throw result.error;
  return { command: [binary, ...args], code: result.status, signal: result.signal, stdout: result.stdout ?? "", stderr: result.stderr ?? "", timedOut };
}

export function describeFailure(result: RunResult): string {
  const how = result.timedOut ? "timed out" : result.signal ? `was killed by ${result.signal}` : `exited with code ${result.code}`;
  const output = headAndTail((result.stderr || result.stdout).trim().split("\n"));
  return `\`${result.command.join(" ")}\` ${how}${output ? `:\n${output}` : ""}`;
}

const HEAD_LINES = 8;
const TAIL_LINES = 6;

/** A tool's first lines say what went wrong (`npm error code ENOTFOUND`), its last lines where: keep both. */
function headAndTail(lines: string[]): string {
  if (lines.length <= HEAD_LINES + TAIL_LINES + 1) return lines.join("\n");
  const skipped = lines.length - HEAD_LINES - TAIL_LINES;
  return [...lines.slice(0, HEAD_LINES), `… (${skipped} more lines)`, ...lines.slice(-TAIL_LINES)].join("\n");
}
