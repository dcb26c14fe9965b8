// The real `pi` binary in RPC mode (JSON lines on stdin/stdout) with a hermetic agent dir and HOME.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "./cli.ts";
import { FAKE_MODEL, FAKE_PROVIDER } from "./fake-model-server.ts";

export const PI_CLI = join(REPO_ROOT, "node_modules/@mariozechner/pi-coding-agent/dist/cli.js");

export type RpcLine = Record<string, unknown> & { type?: string; id?: string };

export interface PiProcess {
  lines: RpcLine[];
  stderr(): string;
  send(command: Record<string, unknown>): void;
  /** waits for a line matching `predicate` (also among lines already received) */
  waitForLine(predicate: (line: RpcLine) => boolean, timeoutMs: number, what: string): Promise<RpcLine>;
  /** closes stdin (pi's signal to shut down) and resolves with the exit code */
  stop(timeoutMs?: number): Promise<number | null>;
  exitCode(): number | null;
}

export interface PiOptions {
  agentDir: string;
  home: string;
  env?: Record<string, string>;
  cwd?: string;
}

export async function startPi(options: PiOptions): Promise<PiProcess> {
  const cwd = options.cwd ?? mkdtempSync(join(tmpdir(), "gw-pi-cwd-"));
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    [PI_CLI, "--mode", "rpc", "--no-session", "--no-context-files", "--model", `${FAKE_PROVIDER}/${FAKE_MODEL}`],
    {
      cwd,
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: options.home,
        PI_CODING_AGENT_DIR: options.agentDir,
        PI_OFFLINE: "1",
        PI_TELEMETRY: "0",
        ...options.env,
      },
      stdio: ["pipe", "pipe", "pipe"],
    },
  );
  const lines: RpcLine[] = [];
  let stderr = "";
  let buffer = "";
  let listeners: (() => void)[] = [];
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    buffer += chunk;
    let newline: number;
    // strict JSONL: records end at \n only (U+2028 inside JSON strings is not a line break)
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const record = buffer.slice(0, newline).replace(/\r$/, "");
      buffer = buffer.slice(newline + 1);
      if (!record.trim()) continue;
      try {
        lines.push(JSON.parse(record) as RpcLine);
      } catch {
        lines.push({ type: "non-json", text: record });
      }
    }
    for (const listener of [...listeners]) listener();
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

  const pi: PiProcess = {
    lines,
    stderr: () => stderr,
    send: (command) => child.stdin.write(JSON.stringify(command) + "\n"),
    waitForLine(predicate, timeoutMs, what) {
      const found = lines.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners = listeners.filter((l) => l !== check);
          reject(new Error(`pi: timed out after ${timeoutMs} ms waiting for ${what}\nlast lines: ${JSON.stringify(lines.slice(-8), null, 1).slice(-3000)}\nstderr: ${stderr.slice(-2000)}`));
        }, timeoutMs);
        const check = () => {
          const hit = lines.find(predicate);
          if (!hit) return;
          clearTimeout(timer);
          listeners = listeners.filter((l) => l !== check);
          resolve(hit);
        };
        listeners.push(check);
        void exited.then(() => setTimeout(() => {
          if (!listeners.includes(check)) return;
          clearTimeout(timer);
          listeners = listeners.filter((l) => l !== check);
          reject(new Error(`pi exited (code ${child.exitCode}) while waiting for ${what}\nstderr: ${stderr.slice(-2000)}`));
        }, 50));
      });
    },
    async stop(timeoutMs = 10_000) {
      child.stdin.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    exitCode: () => child.exitCode,
  };
  pi.send({ id: "ready", type: "get_state" });
  await pi.waitForLine((line) => line.id === "ready" && line.type === "response", 60_000, "pi to answer get_state");
  return pi;
}
