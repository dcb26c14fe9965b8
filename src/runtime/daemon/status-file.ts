// The daemon's status file, for `gateway-setup status` and doctor: rewritten atomically (mode
// 0600) every few seconds and on every change, so its lastLoopTickAt also says the loop is alive.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Origin } from "./types.ts";

export const DAEMON_STATUS_FILE = "daemon-status.json";

export interface DaemonStatus {
  pid: number;
  /** epoch ms */
  startedAt: number;
  lastLoopTickAt: number;
  /** set by a clean shutdown */
  stoppedAt?: number;
  model: string;
  /** the Redis consumer's state (listening, unavailable, refused...) */
  consumer: string;
  queued: Record<Origin["kind"], number>;
  running?: { origin: Origin; startedAt: number };
  lastHeartbeatAt?: number;
  /** per origin (`telegram:<chatId>`, `background`, `heartbeat`, `alert`): when, and how the reply began */
  lastReplies: Record<string, { at: number; preview: string }>;
}

export function daemonStatusPath(stateDir: string): string {
  return join(stateDir, DAEMON_STATUS_FILE);
}

export function originKey(origin: Origin): string {
  return origin.kind === "telegram" ? `telegram:${origin.chatId}` : origin.kind;
}

export function writeDaemonStatus(stateDir: string, status: DaemonStatus): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = daemonStatusPath(stateDir);
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(status, null, 2) + "\n", { mode: 0o600 });
  renameSync(temp, file);
}

/** The status, or undefined when there is none (never started) or it cannot be read. */
export function readDaemonStatus(stateDir: string): DaemonStatus | undefined {
  try {
    const status = JSON.parse(readFileSync(daemonStatusPath(stateDir), "utf8")) as DaemonStatus;
    return typeof status === "object" && status !== null && typeof status.pid === "number" ? status : undefined;
  } catch {
    return undefined;
  }
}
