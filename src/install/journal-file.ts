// What an install journal says, read without changing anything: who wrote it, whether that run
// still goes, what it would undo. Status reads it; the journal itself (journal.ts) writes and
// replays it.
import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { CommitEntry, UndoEntry } from "../core/journal.ts";
import { isPidRunning, procStat } from "../runtime/protocol/sessions.ts";

export const JOURNAL_FILE_NAME = "install-journal.jsonl";

export interface JournalOwner {
  pid: number;
  host: string;
  startedAt: string;
  command: string;
}

export function journalPath(stateDir: string): string {
  return join(stateDir, JOURNAL_FILE_NAME);
}

export interface InterruptedInstall {
  path: string;
  owner: JournalOwner;
  entries: UndoEntry[];
  /** present when the run got past its commit: its tidy-up is what is left to do */
  committed?: CommitEntry[];
  /** its process still runs (same host) or may (another host sharing this home) */
  running: boolean;
}

/** The journal's process still runs: alive, and not a newer process that got its pid (after a reboot, say). */
function ownerRunning(owner: JournalOwner): boolean {
  return isPidRunning(owner.pid) && !startedAfter(owner.pid, Date.parse(owner.startedAt) + 2_000);
}

/** Linux: when the process started, from /proc (elsewhere unknown: false). */
function startedAfter(pid: number, epochMs: number): boolean {
  const sinceBootTicks = Number(procStat(pid)?.[19]);
  if (Number.isNaN(epochMs) || Number.isNaN(sinceBootTicks)) return false;
  try {
    const bootSeconds = Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1]);
    return (bootSeconds + sinceBootTicks / 100) * 1000 > epochMs;
  } catch {
    return false;
  }
}

/** The journal another run left, if any; a line cut short by the kill is ignored. */
export function readInterruptedInstall(stateDir: string): InterruptedInstall | undefined {
  const path = journalPath(stateDir);
  if (!existsSync(path)) return undefined;
  const parsed = readFileSync(path, "utf8")
    .split("\n")
    .flatMap((line) => {
      try {
        return line ? [JSON.parse(line) as unknown] : [];
      } catch {
        return [];
      }
    });
  const first = parsed[0] as Partial<JournalOwner> | undefined;
  const hasOwner = typeof first?.pid === "number" && typeof first.host === "string";
  const owner: JournalOwner = hasOwner ? (first as JournalOwner) : { pid: 0, host: hostname(), startedAt: "an unknown time", command: "gateway-setup" };
  const lines = (hasOwner ? parsed.slice(1) : parsed).filter(
    (line): line is Record<string, unknown> => typeof line === "object" && line !== null && !Array.isArray(line),
  );
  const commit = lines.find((line) => Array.isArray(line.committed));
  const running = owner.host !== hostname() || (owner.pid !== process.pid && owner.pid > 0 && ownerRunning(owner));
  return {
    path,
    owner,
    entries: lines.filter((line) => "undo" in line) as unknown as UndoEntry[],
    ...(commit ? { committed: commit.committed as CommitEntry[] } : {}),
    running,
  };
}

export function describeStoppedRun(owner: JournalOwner): string {
  return `a gateway-setup run (${owner.command}, pid ${owner.pid}, started ${owner.startedAt}) was stopped before it finished`;
}
