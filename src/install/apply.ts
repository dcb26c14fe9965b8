// Applies a Plan as one transaction: every change is recorded with its undo, and any failure,
// a failed verification or a cancel (Ctrl-C) rolls everything this run changed back.
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { findBlocks, mergeCronBlock } from "../components/crontab/block.ts";
import { answersToRecord } from "../components/installed-answers.ts";
import type { Answers } from "../core/answers.ts";
import { CancelledError } from "../core/errors.ts";
import type { Manifest, ManifestFile } from "../core/manifest.ts";
import type { CommandStep, CrontabStep, FileStep, Plan, PlanStep, TakeBackStep } from "../core/plan.ts";
import { fileStepStatus } from "../plan/file-change.ts";
import { describeFailure, type Env, run } from "../platform/exec.ts";
import {
  assertWritableDir,
  backupPath as backupFor,
  backupRoot,
  copyTree,
  ensureDir,
  hasSignature,
  makePrivate,
  missingDirs,
  pathExists,
  readExisting,
  settledSignature,
  sha256,
  writeFileAtomic,
} from "./fs-ops.ts";
import { type CommitEntry, changeCrontab, InstallJournal, type RecordUndo, type Undo, undoAll } from "./journal.ts";
import { readManifest, renderManifest } from "./manifest.ts";
import { takeBackRemoval } from "./take-back.ts";

export type StepOutcome = "created" | "updated" | "unchanged" | "ran" | "ready" | "removed" | "restored" | "kept";

export interface StepResult {
  step: PlanStep;
  outcome: StepOutcome;
  backup?: string;
}

export interface ApplyReporter {
  stepStarted(step: PlanStep): void;
  stepFinished(result: StepResult): void;
}

export interface ApplyOptions {
  env: Env;
  /** recorded in the manifest */
  invocation: string;
  /** recorded in the manifest (as they took effect, without the password): what a re-run starts from */
  answers?: Answers;
  reporter?: ApplyReporter;
  /** aborting cancels the install and rolls it back */
  signal?: AbortSignal;
  waitForRedis(timeoutMs: number): Promise<void>;
  /** our stdout carries a JSON document: interactive commands print to stderr instead */
  jsonOutput?: boolean;
  /** the last step inside the transaction: throwing rolls everything back */
  verify?(run: VerifyRun): Promise<void>;
  now?: () => Date;
}

export interface VerifyRun {
  /**
   * Nothing was changed, and every file is what the previous install's manifest recorded: the
   * files an install that passed its verification wrote (a manifest is written only after that).
   */
  asLastVerified: boolean;
}

export interface ApplyResult {
  results: StepResult[];
  changed: boolean;
  manifestPath: string;
}

export class InstallCancelledError extends CancelledError {
  constructor() {
    super("setup was cancelled; every change it made was rolled back");
  }
}

export class ApplyError extends Error {
  constructor(
    message: string,
    readonly step: PlanStep | undefined,
    readonly rollbackProblems: string[],
    readonly fix?: string,
  ) {
    super(message);
  }
}

function failureMessage(step: PlanStep | undefined, error: NodeJS.ErrnoException): string {
  if (!step) return error.message;
  if (step.kind === "file") return `could not write ${step.path} (${step.description}): ${error.message}`;
  if (step.kind === "dir") return `could not create ${step.path} (${step.description}): ${error.message}`;
  if (step.kind === "crontab") return `could not update your crontab (${step.description}): ${error.message}`;
  if (step.kind === "take-back")
    return `could not take back what the previous install left (${step.description}${"path" in step ? `: ${step.path}` : ""}): ${error.message}`;
  return `could not ${step.description}: ${error.message}`;
}

function fixFor(error: NodeJS.ErrnoException): string | undefined {
  if (error.code === "EACCES" || error.code === "EPERM" || error.code === "EROFS") {
    return "make that directory writable for your user, or point PI_CODING_AGENT_DIR at a writable directory, then run gateway-setup again";
  }
  if (error.code === "ENOTDIR" || error.code === "EEXIST")
    return "a file stands where gateway-setup needs a directory: move it aside, then run gateway-setup again";
  if (error.code === "ENOSPC") return "free some disk space, then run gateway-setup again";
  return undefined;
}

/** Writes the undo down in the journal, before the change is made, and keeps it for a rollback. */

export async function applyPlan(plan: Plan, options: ApplyOptions): Promise<ApplyResult> {
  const now = options.now ?? (() => new Date());
  const undo: Undo[] = [];
  const results: StepResult[] = [];
  const previousManifest = readManifest(plan.settings.manifestPath);
  const backups = backupRoot(plan.settings.stateDir, now());
  const createdDirs: string[] = [];
  const files: ManifestFile[] = [];
  /** files that held their step's contents (written, or found so) at this time: their manifest hash is of that */
  const asPlanned = new Map<string, number>();
  const onCommit: CommitEntry[] = [];
  // what a created path held before gateway-setup first ran its command, carried over from the previous install
  const plannedCreates = new Set(plan.steps.flatMap((step) => (step.kind === "command" ? (step.creates ?? []) : [])));
  const originals = new Map(
    (previousManifest?.commands ?? []).flatMap((command) =>
      (command.originals ?? []).filter((o) => plannedCreates.has(o.path)).map((o): [string, string] => [o.path, o.backup]),
    ),
  );
  let current: PlanStep | undefined;
  let journal: InstallJournal | undefined;
  let changed = false;
  const recordUndo: RecordUndo = (entry) => undo.push(journal!.record(entry));

  const checkCancelled = () => {
    if (options.signal?.aborted) throw new InstallCancelledError();
  };
  const mkdirs = (dir: string, mode?: number) => {
    const missing = missingDirs(dir);
    if (!missing.length) return;
    recordUndo({ undo: "remove-empty-dirs", paths: missing });
    createdDirs.push(...ensureDir(dir, mode));
  };

  try {
    assertTargetsWritable(plan, previousManifest);
    journal = InstallJournal.begin(plan.settings.stateDir, options.invocation, options.env);
    createdDirs.push(...journal.createdDirs);
    // it holds the secrets file, the central pi's last screen and backups: for the user only
    makePrivate(plan.settings.stateDir, recordUndo);
    for (const step of plan.steps) {
      if (step.kind === "take-back") continue;
      checkCancelled();
      current = step;
      options.reporter?.stepStarted(step);
      let result: StepResult;
      if (step.kind === "file") {
        result = writeFileStep(step, previousManifest, backups, recordUndo, mkdirs, files, onCommit);
        if (!step.createOnly && !step.secret) asPlanned.set(step.path, Date.now());
      } else if (step.kind === "command") {
        if (!step.satisfied) await runCommandStep(step, options, recordUndo, mkdirs, { previous: previousManifest, backups, onCommit, originals });
        result = { step, outcome: step.satisfied ? "unchanged" : "ran" };
      } else if (step.kind === "crontab") {
        result = { step, outcome: await crontabStep(step, options.env, recordUndo) };
      } else if (step.kind === "dir") {
        const before = createdDirs.length;
        mkdirs(step.path);
        result = { step, outcome: createdDirs.length > before ? "created" : "unchanged" };
      } else {
        await options.waitForRedis(step.timeoutMs);
        result = { step, outcome: "ready" };
      }
      results.push(result);
      options.reporter?.stepFinished(result);
    }
    // not reported step by step: the plan listed them, the results say what was done
    for (const step of plan.steps) {
      if (step.kind !== "take-back") continue;
      checkCancelled();
      current = step;
      results.push(await takeBackStep(step, previousManifest, recordUndo, onCommit, options.env, files));
    }
    current = undefined;
    checkCancelled();
    changed = results.some((r) => r.outcome !== "unchanged" && r.outcome !== "ready");
    await options.verify?.({ asLastVerified: !changed && recordedAsInstalled(files, previousManifest) });
    checkCancelled();

    if (changed || !previousManifest) {
      mkdirs(plan.settings.stateDir);
      const crontab = plan.steps.find((s): s is CrontabStep => s.kind === "crontab");
      const manifest: Manifest = {
        tool: "gateway-setup",
        formatVersion: 1,
        version: plan.version,
        command: options.invocation,
        installedAt: previousManifest?.installedAt ?? now().toISOString(),
        updatedAt: now().toISOString(),
        settings: plan.settings,
        ...(options.answers ? { answers: answersToRecord(options.answers, plan.settings) } : {}),
        files: files.map((file) => withSettledSignature(file, asPlanned)),
        commands: plan.steps
          .filter((s): s is CommandStep => s.kind === "command")
          .map(({ component, argv, cwd, creates, undoArgv, rollbackOnly }) => ({
            component,
            argv,
            ...(cwd ? { cwd } : {}),
            ...(creates ? { creates } : {}),
            ...(creates?.some((path) => originals.has(path))
              ? { originals: creates.filter((path) => originals.has(path)).map((path) => ({ path, backup: originals.get(path)! })) }
              : {}),
            ...(undoArgv && !rollbackOnly ? { undoArgv } : {}),
          })),
        ...(crontab ? { crontab: { entries: crontab.entries } } : {}),
        createdDirs: [...new Set([...(previousManifest?.createdDirs ?? []), ...createdDirs])],
      };
      const manifestStep: FileStep = {
        kind: "file",
        component: "manifest",
        description: "install manifest",
        path: plan.settings.manifestPath,
        contents: renderManifest(manifest),
        mode: 0o600,
      };
      writeFileStep(manifestStep, undefined, backups, recordUndo, mkdirs, [], onCommit);
    }
  } catch (error) {
    const problems = await undoAll(undo);
    journal?.end();
    if (error instanceof InstallCancelledError) throw error;
    throw new ApplyError(failureMessage(current, error as NodeJS.ErrnoException), current, problems, fixFor(error as NodeJS.ErrnoException));
  }
  // committed: from here on nothing is undone; a run killed during the tidy-up is finished by the next
  journal.commit(onCommit);
  try {
    pruneBackups(join(plan.settings.stateDir, "backups"), [
      ...files.flatMap((file) => (file.original.existed ? [file.original.backup] : [])),
      ...originals.values(),
    ]);
  } catch {
    // older generations stay a while longer
  }
  return { results, changed, manifestPath: plan.settings.manifestPath };
}

/**
 * A file that held what its hash is of, and was not changed since, gets its signature when its
 * times have settled (the verification ran since it was written).
 */
function withSettledSignature(file: ManifestFile, asPlanned: ReadonlyMap<string, number>): ManifestFile {
  const heldAt = asPlanned.get(file.path);
  if (file.sha256 === undefined || heldAt === undefined) return file;
  const { signature: _stale, ...entry } = file;
  const signature = settledSignature(entry.path);
  return signature && signature.ctimeMs <= heldAt ? { ...entry, signature } : entry;
}

/** Every file (but a secret, which has no hash) is recorded in `previous` with its content and mode. */
function recordedAsInstalled(files: ManifestFile[], previous: Manifest | undefined): boolean {
  if (!previous) return false;
  return files.every((file) => file.secret || previous.files.some((p) => p.path === file.path && p.sha256 === file.sha256 && p.mode === file.mode));
}

/** Every directory this run will write into must take a new file, before the first change is made. */
function assertTargetsWritable(plan: Plan, previous: Manifest | undefined): void {
  const targets = new Map<string, string>();
  let changes = !previous;
  for (const step of plan.steps) {
    if (step.kind === "file" && ["new", "changed"].includes(fileStepStatus(step))) {
      targets.set(dirname(step.path), step.path);
      changes = true;
    }
    if (step.kind === "command" && !step.satisfied) {
      for (const dir of step.scratch ?? []) targets.set(dirname(dir), dir);
      changes = true;
    }
    if (step.kind === "take-back" && step.action !== "remove-dirs-if-empty") changes = true;
  }
  if (changes) targets.set(plan.settings.stateDir, plan.settings.manifestPath);
  for (const [dir, target] of targets) assertWritableDir(dir, target);
}

function writeFileStep(
  step: FileStep,
  previousManifest: Manifest | undefined,
  backupRoot: string,
  recordUndo: RecordUndo,
  mkdirs: (dir: string, mode?: number) => void,
  files: ManifestFile[],
  onCommit: CommitEntry[],
): StepResult {
  const existing = readExisting(step.path);
  const contents = Buffer.from(step.contents, "utf8");
  const recorded = previousManifest?.files.find((f) => f.path === step.path);
  if (step.createOnly && existing) {
    // the user's file now: keep what we recorded when we created it (uninstall keeps it if edited)
    if (recorded) files.push(recorded);
    return { step, outcome: "unchanged" };
  }
  let original: ManifestFile["original"] = recorded?.original ?? { existed: false };
  let outcome: StepOutcome;
  let backup: string | undefined;

  if (existing?.contents.equals(contents) && existing.mode === step.mode) {
    outcome = "unchanged";
  } else {
    mkdirs(dirname(step.path));
    if (existing) {
      backup = backupFor(backupRoot, step.path);
      mkdirs(dirname(backup), 0o700);
      recordUndo({ undo: "remove", path: backup }); // a copy cut short
      writeFileAtomic(backup, existing.contents, existing.mode);
      if (step.secret) {
        // the old password serves the rollback only: it goes when the install commits, never kept as a backup
        onCommit.push({ then: "remove", path: backup }, { then: "remove-empty-dirs", paths: foldersBetween(backupRoot, dirname(backup)) });
      } else if (!recorded) original = { existed: true, backup };
      recordUndo({ undo: "restore-file", path: step.path, from: backup, mode: existing.mode });
    } else {
      recordUndo({ undo: "remove", path: step.path });
    }
    writeFileAtomic(step.path, contents, step.mode);
    outcome = existing ? "updated" : "created";
  }
  // unchanged, and still as the manifest's hash saw it: that hash is of these contents
  const known = outcome === "unchanged" && recorded?.signature && hasSignature(step.path, recorded.signature, step.mode) ? recorded.sha256 : undefined;
  files.push({
    path: step.path,
    component: step.component,
    ...(step.secret ? {} : { sha256: known ?? sha256(contents) }),
    mode: step.mode,
    ...(step.secret ? { secret: true } : {}),
    ...(step.createOnly ? { createOnly: true } : {}),
    original,
  });
  return { step, outcome, ...(backup && !step.secret ? { backup } : {}) };
}

interface Preserve {
  previous: Manifest | undefined;
  backups: string;
  onCommit: CommitEntry[];
  /** created path -> the copy of what was there before gateway-setup first ran its command */
  originals: Map<string, string>;
}

async function runCommandStep(
  step: CommandStep,
  options: ApplyOptions,
  recordUndo: RecordUndo,
  mkdirs: (dir: string, mode?: number) => void,
  preserve: Preserve,
): Promise<void> {
  preserveCreatedPaths(step, recordUndo, mkdirs, preserve);
  for (const dir of step.scratch ?? []) {
    mkdirs(dirname(dir));
    recordUndo({ undo: "remove", path: dir });
  }
  try {
    await runCommand(step, options, recordUndo);
  } catch (error) {
    throw keepNamedScratchFiles(error as Error, step.scratch ?? []);
  } finally {
    for (const dir of step.scratch ?? []) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A failure may name a file in a scratch dir (npm: "A complete log of this run can be found in:
 * .../_logs/...-debug-0.log"), which goes with the scratch dir: such files are copied to a private
 * temp folder outside the home first, and the message names the copy.
 */
function keepNamedScratchFiles(error: Error, scratch: string[]): Error {
  let message = error.message;
  let keptIn: string | undefined;
  for (const dir of scratch) {
    for (const named of new Set(message.match(new RegExp(`${escapeRegExp(dir)}/\\S+`, "g")) ?? [])) {
      const path = named.replace(/[.,;:)]+$/, "");
      if (!existsSync(path) || !statSync(path).isFile()) continue;
      keptIn ??= mkdtempSync(join(tmpdir(), "gateway-setup-"));
      const copy = join(keptIn, basename(path));
      copyFileSync(path, copy);
      message = message.split(path).join(copy);
    }
  }
  error.message = message;
  return error;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * What a command creates or changes in place (npm: node_modules, package-lock.json) is put aside
 * first: a path that was not there is removed again on rollback; one that was is copied into this
 * run's backups and put back on rollback. A copy of what was not ours (no created path of the
 * previous install: the user's own node_modules) is the original that uninstall puts back, so the
 * manifest records it; a copy of our own earlier output serves the rollback only and goes when
 * the install commits.
 */
function preserveCreatedPaths(
  step: CommandStep,
  recordUndo: RecordUndo,
  mkdirs: (dir: string, mode?: number) => void,
  { previous, backups, onCommit, originals }: Preserve,
): void {
  const ours = new Set(previous?.commands.flatMap((command) => command.creates ?? []) ?? []);
  for (const path of step.creates ?? []) {
    if (!pathExists(path)) {
      recordUndo({ undo: "remove", path });
      continue;
    }
    const copy = backupFor(backups, path);
    mkdirs(dirname(copy), 0o700);
    recordUndo({ undo: "remove", path: copy }); // a copy cut short
    copyTree(path, copy);
    recordUndo({ undo: "move-tree", from: copy, to: path });
    if (ours.has(path) || originals.has(path)) {
      onCommit.push({ then: "remove", path: copy }, { then: "remove-empty-dirs", paths: foldersBetween(backups, dirname(copy)) });
    } else {
      originals.set(path, copy);
    }
  }
}

/** `root` and the folders below it down to `dir`, outermost first. */
function foldersBetween(root: string, dir: string): string[] {
  const folders: string[] = [];
  for (let current = dir; current.startsWith(root + "/") || current === root; current = dirname(current)) folders.unshift(current);
  return folders;
}

async function runCommand(step: CommandStep, options: ApplyOptions, recordUndo: RecordUndo): Promise<void> {
  const [binary, ...args] = step.argv as [string, ...string[]];
  if (step.undoArgv) recordUndo({ undo: "run", argv: step.undoArgv });
  const result = await run(binary, args, {
    env: options.env,
    stdio: step.interactive ? (options.jsonOutput ? "stderr" : "inherit") : "pipe",
    ...(step.cwd ? { cwd: step.cwd } : {}),
    ...(step.timeoutMs ? { timeoutMs: step.timeoutMs } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (options.signal?.aborted) throw new InstallCancelledError();
  if (result.code !== 0 && !step.mayFail) throw new Error(describeFailure(result));
}

async function crontabStep(step: CrontabStep, env: Env, recordUndo: RecordUndo): Promise<StepOutcome> {
  const before = await changeCrontab(env, recordUndo, (crontab) => mergeCronBlock(crontab, step.entries, step.block));
  if (before === undefined) return "unchanged";
  return findBlocks(before, step.block).blocks.length ? "updated" : "created";
}

/**
 * The plan's take-back steps (what the previous install left where this plan puts nothing: see
 * planTakeBack), after every other step, inside the transaction: a service is unloaded before its
 * files go and loaded again on rollback; the crontab block goes like any crontab change; a removed
 * folder is moved aside until the install commits, and the emptied folders go only then. A file the user edited since
 * the plan was made stops the install (rolled back) rather than being removed unseen.
 */
async function takeBackStep(
  step: TakeBackStep,
  previous: Manifest | undefined,
  recordUndo: RecordUndo,
  onCommit: CommitEntry[],
  env: Env,
  files: ManifestFile[],
): Promise<StepResult> {
  if (step.action === "unload") {
    recordUndo({ undo: "run", argv: step.reloadArgv, mayFail: true });
    const [binary, ...args] = step.argv as [string, ...string[]];
    await run(binary, args, { env, timeoutMs: 60_000 }).catch(() => undefined); // already gone is fine
    return { step, outcome: "ran" };
  }
  // doing removals is uninstall's: loaded only when this install takes something back
  const { applyRemovalSteps, retireInstalledCrontabBlock } = await import("./uninstall.ts");
  if (step.action === "remove-crontab-block") {
    const kept = previous && (await retireInstalledCrontabBlock(env, recordUndo, previous, step.block));
    return { step, outcome: kept ? "kept" : "removed" };
  }
  if (step.action === "remove-dirs-if-empty") {
    onCommit.push({ then: "remove-empty-dirs", paths: step.paths });
    return { step, outcome: "unchanged" };
  }
  const recorded = previous?.files.find((file) => file.path === step.path);
  if ((step.action === "remove-file" || step.action === "restore-file") && recorded?.sha256 !== undefined) {
    const current = readExisting(step.path);
    if (current && sha256(current.contents) !== recorded.sha256) {
      throw new Error(`${step.path} was edited after the plan was made; run gateway-setup again to see what it would do now`);
    }
  }
  // an edited file that stays where it is stays in the manifest, so uninstall names it; one kept under another name is the user's now
  if (step.action === "keep-file" && recorded && !step.keptAs) files.push(recorded);
  applyRemovalSteps([takeBackRemoval(step)!], { recordUndo, onCommit });
  const outcome: StepOutcome = step.action === "keep-file" ? (step.keptAs ? "kept" : "unchanged") : step.action.startsWith("restore") ? "restored" : "removed";
  return { step, outcome };
}

export const BACKUP_GENERATIONS = 5;

/** Keeps the newest few backup generations, and always the ones that hold a file's original. */
function pruneBackups(backups: string, originals: string[]): void {
  if (!existsSync(backups)) return;
  const generations = readdirSync(backups).sort().reverse();
  for (const generation of generations.slice(BACKUP_GENERATIONS)) {
    const dir = join(backups, generation);
    if (!originals.some((path) => path.startsWith(dir + "/"))) rmSync(dir, { recursive: true, force: true });
  }
}
