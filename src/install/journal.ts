// The install journal: a running install writes down how to undo each change before it makes it,
// in <state dir>/install-journal.jsonl. A rollback (failure, Ctrl-C) and the next run after an
// install that was killed outright (SIGKILL, power loss) undo from the same entries, so an
// install never stays half done; while the journal's process lives it also keeps a second run out.
import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describeFailure, run, type Env } from "../platform/exec.ts";
import { writeCrontab } from "../platform/crontab.ts";
import { ensureDir, moveTree, pathExists, readExisting, removeEmptyDirs, writeFileAtomic } from "./fs-ops.ts";

export const JOURNAL_FILE_NAME = "install-journal.jsonl";

/** How to take one change back; every entry is harmless when the change it undoes never happened. */
export type UndoEntry =
  /** something this run created (file or folder tree) */
  | { undo: "remove"; path: string }
  /** a file this run replaced: put the copy at `from` back, then drop the copy */
  | { undo: "restore-file"; path: string; from: string; mode: number }
  /** something this run moved aside (`to` -> `from`): move it back */
  | { undo: "rename"; from: string; to: string }
  /** a copy of a folder this run is about to change: replace the folder with it */
  | { undo: "move-tree"; from: string; to: string }
  | { undo: "remove-empty-dirs"; paths: string[] }
  /** a command that reverses one this run ran (unload a service it loaded) */
  | { undo: "run"; argv: string[]; mayFail?: boolean }
  /** the whole crontab as it was before this run changed it */
  | { undo: "crontab"; contents: string };

export interface JournalOwner {
  pid: number;
  host: string;
  startedAt: string;
  command: string;
}

export type Undo = () => void | Promise<void>;

export function journalPath(stateDir: string): string {
  return join(stateDir, JOURNAL_FILE_NAME);
}

export async function undoEntry(entry: UndoEntry, env: Env): Promise<void> {
  switch (entry.undo) {
    case "remove":
      rmSync(entry.path, { recursive: true, force: true });
      return;
    case "restore-file": {
      const copy = readExisting(entry.from);
      if (!copy) return;
      writeFileAtomic(entry.path, copy.contents, entry.mode);
      rmSync(entry.from, { force: true });
      return;
    }
    case "rename":
      if (pathExists(entry.from)) renameSync(entry.from, entry.to);
      return;
    case "move-tree":
      if (pathExists(entry.from)) moveTree(entry.from, entry.to);
      return;
    case "remove-empty-dirs":
      removeEmptyDirs(entry.paths);
      return;
    case "run": {
      const [binary, ...args] = entry.argv as [string, ...string[]];
      const result = await run(binary, args, { env, timeoutMs: 60_000 }).catch((error: Error) => ({ failed: error }));
      if (entry.mayFail) return;
      if ("failed" in result) throw result.failed;
      if (result.code !== 0) throw new Error(describeFailure(result));
      return;
    }
    case "crontab":
      await writeCrontab(entry.contents, env);
      return;
  }
}

/** Undoes entries newest first; what cannot be undone is reported, the rest still goes back. */
export async function undoAll(undos: Undo[]): Promise<string[]> {
  const problems: string[] = [];
  for (const undo of [...undos].reverse()) {
    try {
      await undo();
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  return problems;
}

export class InstallJournal {
  private constructor(
    readonly path: string,
    /** the folders the journal itself needed (the state dir on a first install) */
    readonly createdDirs: string[],
    private readonly env: Env,
  ) {}

  /** Starts the journal of this run; another run's journal is dealt with first (see recoverInterruptedInstall). */
  static begin(stateDir: string, command: string, env: Env): InstallJournal {
    const createdDirs = ensureDir(stateDir);
    const path = journalPath(stateDir);
    const owner: JournalOwner = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), command };
    const fd = openSync(path, "wx", 0o600);
    try {
      const dirsEntry: UndoEntry[] = createdDirs.length ? [{ undo: "remove-empty-dirs", paths: createdDirs }] : [];
      writeSync(fd, [owner, ...dirsEntry].map((line) => `${JSON.stringify(line)}\n`).join(""));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return new InstallJournal(path, createdDirs, env);
  }

  /** Writes the entry down (durably) before the change it undoes is made; returns the undo. */
  record(entry: UndoEntry): Undo {
    appendFileSync(this.path, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
    const fd = openSync(this.path, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return () => undoEntry(entry, this.env);
  }

  /** The run committed or rolled back: the journal and the folders only it needed go. */
  end(): void {
    rmSync(this.path, { force: true });
    removeEmptyDirs(this.createdDirs);
  }
}

export interface InterruptedInstall {
  path: string;
  owner: JournalOwner;
  entries: UndoEntry[];
  /** its process still runs (same host) or may (another host sharing this home) */
  running: boolean;
}

export class JournalBusyError extends Error {
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The journal another run left, if any; a line cut short by the kill is ignored. */
export function readInterruptedInstall(stateDir: string): InterruptedInstall | undefined {
  const path = journalPath(stateDir);
  if (!existsSync(path)) return undefined;
  const lines = readFileSync(path, "utf8").split("\n");
  const parsed = lines.flatMap((line) => {
    try {
      return line ? [JSON.parse(line) as unknown] : [];
    } catch {
      return [];
    }
  });
  const [first, ...entries] = parsed as [JournalOwner | undefined, ...UndoEntry[]];
  const owner: JournalOwner = first && typeof first.pid === "number" ? first : { pid: 0, host: hostname(), startedAt: "an unknown time", command: "gateway-setup" };
  const running = owner.host !== hostname() || (owner.pid !== process.pid && owner.pid > 0 && processAlive(owner.pid));
  return { path, owner, entries: entries.filter((entry) => entry && typeof entry === "object" && "undo" in entry), running };
}

/**
 * Rolls back what a killed install left (its journal's entries, newest first) and removes the
 * journal. Refuses while that install's process may still be running.
 */
export async function recoverInterruptedInstall(stateDir: string, env: Env): Promise<{ owner: JournalOwner; problems: string[] } | undefined> {
  const interrupted = readInterruptedInstall(stateDir);
  if (!interrupted) return undefined;
  const { owner, path } = interrupted;
  if (interrupted.running) {
    const where = owner.host === hostname() ? `pid ${owner.pid}` : `pid ${owner.pid} on ${owner.host}`;
    throw new JournalBusyError(
      `another gateway-setup (${where}, started ${owner.startedAt}) is changing this install right now`,
      owner.host === hostname() ? "wait for it to finish, then run this again" : `if nothing runs there any more, delete ${path} and run this again`,
    );
  }
  // the journal goes last: a recovery that is itself cut short is simply done again
  const problems = await undoAll(interrupted.entries.map((entry) => () => undoEntry(entry, env)));
  rmSync(path, { force: true });
  // the folders the journal itself was in
  for (const entry of interrupted.entries) if (entry.undo === "remove-empty-dirs") removeEmptyDirs(entry.paths);
  return { owner, problems };
}

export function describeStoppedRun(owner: JournalOwner): string {
  return `a gateway-setup run (${owner.command}, pid ${owner.pid}, started ${owner.startedAt}) was stopped before it finished`;
}

/**
 * What setup and uninstall do first: roll back a stopped run (a dry run only says it would), and
 * return what to tell the user. Throws JournalBusyError while that run may still be going.
 */
export async function settleInterruptedInstall(stateDir: string, env: Env, dryRun: boolean): Promise<string | undefined> {
  const interrupted = readInterruptedInstall(stateDir);
  if (!interrupted) return undefined;
  const stopped = describeStoppedRun(interrupted.owner);
  if (dryRun && !interrupted.running) return `${capitalize(stopped)}; a real run rolls its changes back first (this plan does not show that).`;
  const recovered = await recoverInterruptedInstall(stateDir, env);
  const problems = recovered?.problems ?? [];
  return `${capitalize(stopped)}; its changes were rolled back${problems.length ? `, except: ${problems.join("; ")}` : ""}.`;
}

const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
