// The real `pi` in RPC mode (JSON lines on stdin/stdout) under a hermetic environment: its own
// agent dir, HOME, TMPDIR and an empty cwd, all in one temp dir, so a test never touches ~/.pi.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (this file is test/helpers/pi-rpc.ts). */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** pi's entry point (what node_modules/.bin/pi links to); run with process.execPath. */
export const PI_CLI = realpathSync(join(REPO_ROOT, "node_modules/.bin/pi"));

/** One record of pi's stdout. Lines that are not JSON become `{ type: "invalid_json", raw }`. */
export type RpcLine = Record<string, unknown> & { type?: string; id?: string };

/** A throw-away home for one pi: `<root>/agent` (PI_CODING_AGENT_DIR), `<root>/home`, `<root>/cwd`, `<root>/tmp`. */
export interface PiSandbox {
  root: string;
  agentDir: string;
  home: string;
  cwd: string;
  tmp: string;
  /** removes the whole sandbox */
  cleanup(): void;
}

/** Creates the sandbox directories (all empty) under the system temp dir. */
export function createPiSandbox(): PiSandbox {
  const root = mkdtempSync(join(tmpdir(), "gw-pi-"));
  const dirs = { agentDir: join(root, "agent"), home: join(root, "home"), cwd: join(root, "cwd"), tmp: join(root, "tmp") };
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
  return { root, ...dirs, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export interface StartPiOptions {
  sandbox: PiSandbox;
  /** `--model` value, e.g. `fake/fake-1` (what writeFakeAgentDir returns); none: pi starts with no model */
  model?: string;
  /** extra environment, applied over the hermetic one */
  env?: Record<string, string>;
  /** extra CLI arguments after the standard ones */
  args?: string[];
  /** how long to wait for the get_state answer; default 30 s */
  readyTimeoutMs?: number;
}

export interface WaitOptions {
  timeoutMs?: number;
  /** only consider lines from this index on (see `mark()`); default 0 */
  from?: number;
  /** what is awaited, for the error message */
  what?: string;
}

export interface PiExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface PiRpc {
  readonly pid: number;
  /** every stdout record so far, oldest first (live array) */
  readonly lines: readonly RpcLine[];
  /** milliseconds from spawn until pi answered get_state */
  readonly startupMs: number;
  /** the `data` of the readiness get_state response (model, isStreaming, ...) */
  readonly state: Record<string, unknown>;
  /** resolves when the process has exited */
  readonly exited: Promise<PiExit>;
  /** writes one command as a JSON line to stdin */
  send(command: Record<string, unknown>): void;
  /** sends `command` with a fresh id (unless it has one) and resolves with its `response` line */
  request(command: Record<string, unknown>, timeoutMs?: number): Promise<RpcLine>;
  /** the current number of lines, to wait only for what comes after */
  mark(): number;
  /** resolves with the first line matching `predicate`; rejects on timeout or exit with the last lines and stderr */
  waitForLine(predicate: (line: RpcLine) => boolean, options?: WaitOptions): Promise<RpcLine>;
  /** `extension_ui_request` lines, optionally of one method (notify, setStatus, ...) */
  uiRequests(method?: string): RpcLine[];
  /** `extension_error` lines */
  extensionErrors(): RpcLine[];
  /** everything pi wrote to stderr */
  stderr(): string;
  /** closes stdin (pi's cue to shut down) and waits; SIGTERM then SIGKILL if it has not exited within `timeoutMs` (default 10 s) */
  stop(timeoutMs?: number): Promise<PiExit & { killed: boolean }>;
}

const live = new Set<ChildProcessWithoutNullStreams>();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/** The environment pi runs with: nothing from the caller's except PATH, plus `extra`. */
export function hermeticPiEnv(sandbox: PiSandbox, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: sandbox.home,
    TMPDIR: sandbox.tmp,
    PI_CODING_AGENT_DIR: sandbox.agentDir,
    PI_OFFLINE: "1",
    PI_TELEMETRY: "0",
    ...extra,
  };
}

/**
 * Spawns `pi --mode rpc --no-session --no-context-files --model <model>` in the sandbox and resolves
 * once it answered `{"id":"s","type":"get_state"}`. Rejects (with stderr) if it exits or times out first.
 */
export async function startPiRpc(options: StartPiOptions): Promise<PiRpc> {
  const { sandbox } = options;
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [PI_CLI, "--mode", "rpc", "--no-session", "--no-context-files", ...(options.model ? ["--model", options.model] : []), ...(options.args ?? [])],
    { cwd: sandbox.cwd, env: hermeticPiEnv(sandbox, options.env), stdio: ["pipe", "pipe", "pipe"] },
  );
  live.add(child);
  const lines: RpcLine[] = [];
  let stderr = "";
  let pending = "";
  let exit: PiExit | undefined;
  const wakers = new Set<() => void>();
  const wakeAll = () => {
    for (const wake of [...wakers]) wake();
  };

  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    pending += chunk;
    // strict JSONL: records end at "\n" only; U+2028/U+2029 inside JSON strings are not breaks
    let newline: number;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const record = pending.slice(0, newline).replace(/\r$/, "");
      pending = pending.slice(newline + 1);
      if (record.trim() === "") continue;
      try {
        lines.push(JSON.parse(record) as RpcLine);
      } catch {
        lines.push({ type: "invalid_json", raw: record });
      }
    }
    wakeAll();
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  child.stdin.on("error", () => {}); // EPIPE after pi died is reported through `exited`
  const exited = new Promise<PiExit>((resolve) => {
    child.once("close", (code, signal) => {
      live.delete(child);
      exit = { code, signal };
      resolve(exit);
      wakeAll();
    });
    child.once("error", (error) => {
      stderr += `\n[spawn error] ${error.message}`;
    });
  });

  const describe = () => {
    const last =
      lines
        .slice(-10)
        .map((l) => JSON.stringify(l).slice(0, 600))
        .join("\n") || "(none)";
    return `\nlast stdout lines (${lines.length} in all):\n${last}\nstderr:\n${stderr.slice(-3000) || "(empty)"}`;
  };

  const waitForLine = (predicate: (line: RpcLine) => boolean, { timeoutMs = 15_000, from = 0, what = "a matching line" }: WaitOptions = {}) =>
    new Promise<RpcLine>((resolve, reject) => {
      const check = () => {
        const hit = lines.slice(from).find(predicate);
        if (hit) return settle(() => resolve(hit));
        if (exit) return settle(() => reject(new Error(`pi exited (code ${exit!.code}, signal ${exit!.signal}) while waiting for ${what}${describe()}`)));
        return false;
      };
      const settle = (done: () => void) => {
        wakers.delete(check);
        clearTimeout(timer);
        done();
        return true;
      };
      const timer = setTimeout(() => settle(() => reject(new Error(`pi: no ${what} within ${timeoutMs} ms${describe()}`))), timeoutMs);
      if (!check()) wakers.add(check);
    });

  const send = (command: Record<string, unknown>) => {
    child.stdin.write(JSON.stringify(command) + "\n");
  };
  let nextId = 0;

  send({ id: "s", type: "get_state" });
  let ready: RpcLine;
  try {
    ready = await waitForLine((l) => l.type === "response" && l.id === "s", {
      timeoutMs: options.readyTimeoutMs ?? 30_000,
      what: "the get_state answer (pi ready)",
    });
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  const startupMs = Date.now() - started;

  return {
    pid: child.pid!,
    lines,
    startupMs,
    state: (ready.data ?? {}) as Record<string, unknown>,
    exited,
    send,
    async request(command, timeoutMs = 15_000) {
      const id = typeof command.id === "string" ? command.id : `r${++nextId}`;
      const from = lines.length;
      send({ ...command, id });
      return waitForLine((l) => l.type === "response" && l.id === id, { timeoutMs, from, what: `the response to ${String(command.type)} (id ${id})` });
    },
    mark: () => lines.length,
    waitForLine,
    uiRequests: (method) => lines.filter((l) => l.type === "extension_ui_request" && (method === undefined || l.method === method)),
    extensionErrors: () => lines.filter((l) => l.type === "extension_error"),
    stderr: () => stderr,
    async stop(timeoutMs = 10_000) {
      child.stdin.end();
      let killed = false;
      const term = setTimeout(() => {
        killed = true;
        child.kill("SIGTERM");
      }, timeoutMs);
      const kill = setTimeout(() => child.kill("SIGKILL"), timeoutMs + 3_000);
      const result = await exited;
      clearTimeout(term);
      clearTimeout(kill);
      return { ...result, killed };
    },
  };
}
