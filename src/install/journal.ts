// The install journal: a running install writes down how to undo each change before it makes it,
// in <state dir>/install-journal.jsonl. A rollback (failure, Ctrl-C) and the next run after an
// install that was killed outright (SIGKILL, power loss) undo from the same entries, so an
// install never stays half done; while the journal's process lives it also keeps a second run out.
// The commit is one more line, listing the tidy-up that follows it (what was moved aside goes):
// a run killed after that line is finished by the next one instead of undone.
import { appendFileSync, closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { dirname } from "node:path";
import { restoreCronBlocks } from "../components/crontab/block.ts";
import { GatewayError } from "../core/errors.ts";
import type { CommitEntry, UndoEntry } from "../core/journal.ts";
import { readCrontab, writeCrontab } from "../platform/crontab.ts";
import { describeFailure, type Env, run } from "../platform/exec.ts";
import { ensureDir, moveTree, pathExists, readExisting, removeEmptyDirs, writeFileAtomic } from "./fs-ops.ts";
import { describeStoppedRun, type InterruptedInstall, type JournalOwner, journalPath, readInterruptedInstall } from "./journal-file.ts";

export { describeStoppedRun, type InterruptedInstall, JOURNAL_FILE_NAME, type JournalOwner, journalPath, readInterruptedInstall } from "./journal-file.ts";

export type { CommitEntry, UndoEntry };

export type Undo = () => void | Promise<void>;

/** Writes the undo down in the journal, before the change is made, and keeps it for a rollback. */
export type RecordUndo = (entry: UndoEntry) => void;

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
    case "crontab": {
      // the user's crontab may have changed since (by hand, or an install for another agent dir):
      // then only our block goes back to how it was
      const now = await readCrontab(env);
      if (now === entry.contents) return;
      if (now === entry.after) return writeCrontab(entry.contents, env);
      return writeCrontab(restoreCronBlocks(now, entry.contents, entry.after), env);
    }
  }
}

export function commitEntry(entry: CommitEntry): void {
  if (entry.then === "remove") rmSync(entry.path, { recursive: true, force: true });
  else removeEmptyDirs(entry.paths);
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
    let fd: number | undefined;
    try {
      fd = openSync(path, "wx", 0o600);
      const dirsEntry: UndoEntry[] = createdDirs.length ? [{ undo: "remove-empty-dirs", paths: createdDirs }] : [];
      writeSync(fd, [owner, ...dirsEntry].map((line) => `${JSON.stringify(line)}\n`).join(""));
      fsyncSync(fd);
      closeSync(fd);
      syncDir(stateDir);
    } catch (error) {
      if (fd === undefined && (error as NodeJS.ErrnoException).code === "EEXIST") {
        throw new JournalBusyError("another gateway-setup is changing this install right now", "wait for it to finish, then run this again");
      }
      // a journal cut short (disk full) must not look like a stopped run to the next one
      if (fd !== undefined) {
        closeSync(fd);
        rmSync(path, { force: true });
      }
      removeEmptyDirs(createdDirs);
      throw error;
    }
    return new InstallJournal(path, createdDirs, env);
  }

  /** Writes the entry down (durably) before the change it undoes is made; returns the undo. */
  record(entry: UndoEntry): Undo {
    this.append(entry);
    return () => undoEntry(entry, this.env);
  }

  /** The commit point: from this line on the run is finished, never undone; then its tidy-up and the end. */
  commit(tidyUp: CommitEntry[]): void {
    this.append({ committed: tidyUp });
    for (const entry of tidyUp) {
      try {
        commitEntry(entry);
      } catch {
        // best effort: what stays is only an old copy, and the install stands
      }
    }
    this.end();
  }

  /** The run committed or rolled back: the journal and the folders only it needed go. */
  end(): void {
    rmSync(this.path, { force: true });
    syncDir(dirname(this.path));
    removeEmptyDirs(this.createdDirs);
  }

  private append(line: object): void {
    appendFileSync(this.path, `${JSON.stringify(line)}\n`, { mode: 0o600 });
    const fd = openSync(this.path, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/** Makes a file's creation or removal in `dir` survive a power loss (best effort: not every system can). */
function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // the journal's own fsync still holds its contents
  }
}

export class JournalBusyError extends GatewayError {
  declare readonly fix: string;
  constructor(message: string, fix: string) {
    super(message, fix);
  }
}

/**
 * Rolls back what a killed install left (its journal's entries, newest first) and removes the
 * journal. Refuses while that install's process may still be running.
 */
export async function recoverInterruptedInstall(interrupted: InterruptedInstall, env: Env): Promise<string[]> {
  const { owner, path } = interrupted;
  if (interrupted.running) {
    const where = owner.host === hostname() ? `pid ${owner.pid}` : `pid ${owner.pid} on ${owner.host}`;
    throw new JournalBusyError(
      `another gateway-setup (${where}, started ${owner.startedAt}) is changing this install right now`,
      owner.host === hostname()
        ? `wait for it to finish, then run this again (if no gateway-setup runs any more, delete ${path})`
        : `if nothing runs there any more, delete ${path} and run this again`,
    );
  }
  // the journal goes last: a recovery that is itself cut short is simply done again
  const problems = interrupted.committed
    ? await undoAll(interrupted.committed.map((entry) => () => commitEntry(entry)).reverse())
    : await undoAll(interrupted.entries.map((entry) => () => undoEntry(entry, env)));
  rmSync(path, { force: true });
  // the folders the journal itself was in
  for (const entry of interrupted.entries) if (entry.undo === "remove-empty-dirs") removeEmptyDirs(entry.paths);
  return problems;
}

/**
 * What setup and uninstall do first: roll back a stopped run (a dry run only says it would), and
 * return what to tell the user. Throws JournalBusyError while that run may still be going.
 */
export async function settleInterruptedInstall(stateDir: string, env: Env, dryRun: boolean): Promise<string | undefined> {
  const interrupted = readInterruptedInstall(stateDir);
  if (!interrupted) return undefined;
  const stopped = describeStoppedRun(interrupted.owner);
  if (dryRun && !interrupted.running) {
    const first = interrupted.committed ? "finishes its tidy-up first" : "rolls its changes back first (this plan does not show that)";
    return `${capitalize(stopped)}; a real run ${first}.`;
  }
  const problems = await recoverInterruptedInstall(interrupted, env);
  const done = interrupted.committed ? "it had finished installing, and its tidy-up is now done too" : "its changes were rolled back";
  return `${capitalize(stopped)}; ${done}${problems.length ? `, except: ${problems.join("; ")}` : ""}.`;
}

const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** Rewrites the user's crontab with `change`, its undo written down first; returns it as it was, or undefined when nothing changed. */
export async function changeCrontab(env: Env, recordUndo: RecordUndo, change: (crontab: string) => string): Promise<string | undefined> {
  const before = await readCrontab(env);
  const after = change(before);
  if (after === before) return undefined;
  recordUndo({ undo: "crontab", contents: before, after });
  await writeCrontab(after, env);
  return before;
}
