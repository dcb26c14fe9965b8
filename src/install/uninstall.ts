// Uninstall is driven by the manifest: remove exactly what was installed, put back what was there
// before, keep (and name) anything the user edited since. Planned as data first, like install.
import { existsSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { KEPT_BEGIN, removeCronBlock, retireCronBlock } from "../components/crontab/block.ts";
import { installedBlockName } from "../components/crontab/jobs.ts";
import { COMPONENTS } from "../components/index.ts";
import type { Manifest } from "../core/manifest.ts";
import type { UninstallStep } from "../core/plan.ts";
import { readCrontab, writeCrontab } from "../platform/crontab.ts";
import { describeFailure, type Env, run } from "../platform/exec.ts";
import { copyTree, moveTree, pathExists, readExisting, removeEmptyDirs, writeFileAtomic } from "./fs-ops.ts";
import { type CommitEntry, changeCrontab, InstallJournal, type RecordUndo, type Undo, type UndoEntry, undoAll } from "./journal.ts";
import { readManifest } from "./manifest.ts";
import { EXTENSION_ENTRY, planCreatedPathRemoval, planFileRemoval } from "./take-back.ts";

// the plan side lives in take-back.ts (setup plans with it without loading this)
export { describeRemoval, EDITED_ENTRY_REASON, planTakeBack } from "./take-back.ts";

export interface UninstallPlan {
  manifestPath: string;
  manifest: Manifest;
  steps: UninstallStep[];
}

/** Takes gateway-setup's block out of the user's crontab; the rest stays byte for byte, and nothing is written when there is no block. */
export async function removeOurCrontabBlock(env: Env): Promise<void> {
  const before = await readCrontab(env);
  const after = removeCronBlock(before);
  if (after !== before) await writeCrontab(after, env);
}

/**
 * Takes an install's block out of the crontab, journaled: a block whose entries the user edited
 * since (not those `manifest` recorded) is kept, its markers renamed; what to tell the user then.
 */
export async function retireInstalledCrontabBlock(env: Env, recordUndo: RecordUndo, manifest: Manifest, block?: string): Promise<string | undefined> {
  let kept = false;
  await changeCrontab(env, recordUndo, (crontab) => {
    const retired = retireCronBlock(crontab, manifest.crontab?.entries, block ?? installedBlockName(manifest.settings));
    kept = retired.kept;
    return retired.text;
  });
  return kept ? `kept your edited gateway-setup block in your crontab, now under "${KEPT_BEGIN}": its lines are yours to remove` : undefined;
}

export function planUninstall(manifestPath: string): UninstallPlan | undefined {
  const manifest = readManifest(manifestPath);
  if (!manifest) return undefined;
  const removals = COMPONENTS.filter((component) => component.applies(manifest.settings)).map((component) => component.removal(manifest));
  const steps: UninstallStep[] = [
    ...[...manifest.commands]
      .reverse()
      .flatMap((command): UninstallStep[] =>
        command.undoArgv ? [{ kind: "run", argv: command.undoArgv, description: `take back: ${command.argv.join(" ")}`, undoArgv: command.argv }] : [],
      ),
    ...removals.flatMap((removal) => removal.stop ?? []),
    ...planFileRemoval(manifest.files, join(manifest.settings.extensionDir, EXTENSION_ENTRY)),
    ...planCreatedPathRemoval(manifest.commands),
    ...removals.flatMap((removal) => removal.cleanUp ?? []),
  ];
  const keepsBackups = steps.some((step) => step.kind === "keep-file" && step.backup);
  steps.push({ kind: "remove-file", path: manifestPath });
  const backups = join(manifest.settings.stateDir, "backups");
  if (existsSync(backups) && !keepsBackups) steps.push({ kind: "remove-tree", path: backups });
  const dirs = [...new Set([...manifest.createdDirs, ...manifest.files.map((f) => dirname(f.path))])].sort((a, b) => a.length - b.length);
  steps.push({ kind: "remove-dirs-if-empty", paths: dirs });
  return { manifestPath, manifest, steps };
}

/**
 * Runs the uninstall as one transaction under the install journal, and so under its lock (a setup
 * started meanwhile is refused): what goes is moved aside with its undo written down first, so a
 * failure rolls everything back, and a run killed midway is rolled back by the next gateway-setup,
 * uninstall or doctor --fix. At the commit what was moved aside goes, and then the emptied folders
 * (the state dir last, once the journal has left it). Commands that fail are reported, not fatal
 * (the unit may be gone already), and so is an original that cannot be put back.
 */
export async function applyUninstall(plan: UninstallPlan, env: Env = process.env, invocation = "gateway-setup uninstall"): Promise<string[]> {
  const problems: string[] = [];
  const journal = InstallJournal.begin(plan.manifest.settings.stateDir, invocation, env);
  const undo: Undo[] = [];
  const onCommit: CommitEntry[] = [];
  const recordUndo: RecordUndo = (entry) => undo.push(journal.record(entry));
  const emptied: string[] = [];
  try {
    for (const step of plan.steps) {
      if (step.kind === "run") {
        if (step.undoArgv) recordUndo({ undo: "run", argv: step.undoArgv, mayFail: true });
        const [binary, ...args] = step.argv as [string, ...string[]];
        try {
          const result = await run(binary, args, { env, timeoutMs: 60_000 });
          if (result.code !== 0 && !step.mayFail) problems.push(describeFailure(result));
        } catch (error) {
          if (!step.mayFail) problems.push((error as Error).message);
        }
      } else if (step.kind === "remove-crontab-block") {
        const kept = await retireInstalledCrontabBlock(env, recordUndo, plan.manifest, step.block);
        if (kept) problems.push(kept);
      } else if (step.kind === "remove-dirs-if-empty") {
        emptied.push(...step.paths);
        onCommit.push({ then: "remove-empty-dirs", paths: step.paths });
      } else {
        if (step.kind === "keep-file" && step.missingBackup) problems.push(`kept ${step.path}: ${step.reason}`);
        applyRemovalSteps([step], { recordUndo, onCommit });
      }
    }
  } catch (error) {
    const notUndone = await undoAll(undo);
    journal.end();
    const rolledBack = notUndone.length ? `; rolling back left problems: ${notUndone.join("; ")}` : "; everything was put back as it was";
    throw new Error(`${(error as Error).message}${rolledBack}`);
  }
  journal.commit(onCommit);
  applyRemovalSteps([{ kind: "remove-dirs-if-empty", paths: emptied }]);
  return problems;
}

/**
 * Runs removal steps. Inside an install (`transaction`), nothing is deleted before the install
 * commits: what goes is moved aside, each move written down first with how to take it back.
 */
export function applyRemovalSteps(steps: UninstallStep[], transaction?: { recordUndo(entry: UndoEntry): void; onCommit: CommitEntry[] }): void {
  /** moves `path` aside until the install commits (undone on rollback); false when nothing is there */
  const retire = (path: string): boolean => {
    if (!pathExists(path)) return false;
    const aside = `${path}.gateway-setup-retired-${process.pid}`;
    transaction!.recordUndo({ undo: "rename", from: aside, to: path });
    renameSync(path, aside);
    transaction!.onCommit.push({ then: "remove", path: aside });
    return true;
  };
  for (const step of steps) {
    switch (step.kind) {
      case "remove-file":
        if (transaction) retire(step.path);
        else rmSync(step.path, { force: true });
        break;
      case "remove-tree":
        if (transaction) retire(step.path);
        else rmSync(step.path, { recursive: true, force: true });
        break;
      case "restore-file": {
        const original = readExisting(step.backup);
        if (!original) throw new Error(`the backup ${step.backup} of ${step.path} is missing; nothing to restore`);
        if (!transaction) {
          writeFileAtomic(step.path, original.contents, original.mode);
          rmSync(step.backup, { force: true });
          break;
        }
        // the backup stays the original until the install commits
        if (!retire(step.path)) transaction.recordUndo({ undo: "remove", path: step.path });
        writeFileAtomic(step.path, original.contents, original.mode);
        break;
      }
      case "restore-tree": {
        if (!pathExists(step.backup)) throw new Error(`the backup ${step.backup} of ${step.path} is missing; nothing to restore`);
        if (!transaction) {
          moveTree(step.backup, step.path);
          break;
        }
        // inside a transaction the backup is copied (it stays the original)
        retire(step.path);
        transaction.recordUndo({ undo: "remove", path: step.path });
        copyTree(step.backup, step.path);
        break;
      }
      case "remove-dirs-if-empty":
        removeEmptyDirs(step.paths.filter((p) => existsSync(p) && statSync(p).isDirectory()));
        break;
      case "keep-file":
        if (step.keptAs && pathExists(step.path)) {
          if (pathExists(step.keptAs)) throw new Error(`cannot keep ${step.path} as ${step.keptAs}: something is there now`);
          transaction?.recordUndo({ undo: "rename", from: step.keptAs, to: step.path });
          renameSync(step.path, step.keptAs);
        }
        break;
      case "run":
      case "remove-crontab-block":
        break;
    }
  }
}
