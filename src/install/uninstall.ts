// Uninstall is driven by the manifest: remove exactly what was installed, put back what was there
// before, keep (and name) anything the user edited since. Planned as data first, like install.
import { existsSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { DEFAULT_BLOCK, KEPT_BEGIN, removeCronBlock, retireCronBlock } from "../components/crontab/block.ts";
import { removeBlockStep } from "../components/crontab/index.ts";
import { installedBlockName } from "../components/crontab/jobs.ts";
import { COMPONENTS } from "../components/index.ts";
import type { Manifest, ManifestCommand, ManifestFile } from "../core/manifest.ts";
import type { PlanStep, TakeBackStep, UninstallStep } from "../core/plan.ts";
import { readCrontab, writeCrontab } from "../platform/crontab.ts";
import { describeFailure, type Env, run } from "../platform/exec.ts";
import { displayPath } from "../platform/paths.ts";
import { copyTree, moveTree, pathExists, readExisting, removeEmptyDirs, sha256, writeFileAtomic } from "./fs-ops.ts";
import { type CommitEntry, changeCrontab, InstallJournal, type RecordUndo, type Undo, type UndoEntry, undoAll } from "./journal.ts";
import { readManifest } from "./manifest.ts";

export interface UninstallPlan {
  manifestPath: string;
  manifest: Manifest;
  steps: UninstallStep[];
}

/** The file pi loads from an extension folder. */
export const EXTENSION_ENTRY = "index.ts";

export const EDITED_ENTRY_REASON = "edited since install; renamed so pi does not load it, as it needs the extension's code that goes";

/**
 * How to take back files an install wrote: remove, put the original back, or keep an edited one.
 * An edited entry of the extension (`entryFile`) is kept under another name: pi would still load
 * it, and fail on the code it imports (the bundle; an older install's lib/ and node_modules), which goes. What was there
 * before the install is then put back in its place.
 */
export function planFileRemoval(files: ManifestFile[], entryFile?: string): UninstallStep[] {
  return files.flatMap((file): UninstallStep[] => {
    const current = readExisting(file.path);
    const backup = file.original.existed ? file.original.backup : undefined;
    // secret files carry no fingerprint: they are ours to remove whatever they hold
    if (current && file.sha256 !== undefined && sha256(current.contents) !== file.sha256) {
      if (file.path === entryFile) {
        const keptAs = freeName(`${file.path}.edited`);
        if (backup && !existsSync(backup)) {
          return [
            {
              kind: "keep-file",
              path: file.path,
              keptAs,
              reason: `${EDITED_ENTRY_REASON}; the backup of what was there before (${backup}) is missing, so it cannot be put back`,
              missingBackup: true,
            },
          ];
        }
        return [
          { kind: "keep-file", path: file.path, keptAs, reason: EDITED_ENTRY_REASON },
          ...(backup ? [{ kind: "restore-file" as const, path: file.path, backup }] : []),
        ];
      }
      return [{ kind: "keep-file", path: file.path, reason: "edited since install", ...(backup ? { backup } : {}) }];
    }
    if (backup && !existsSync(backup)) {
      return current
        ? [
            {
              kind: "keep-file",
              path: file.path,
              reason: `the backup of what was there before (${backup}) is missing, so it cannot be put back`,
              missingBackup: true,
            },
          ]
        : [];
    }
    if (backup) return [{ kind: "restore-file", path: file.path, backup }];
    return current ? [{ kind: "remove-file", path: file.path }] : [];
  });
}

/** `path`, or `path-2`, `path-3`... whichever is free. */
function freeName(path: string): string {
  let name = path;
  for (let n = 2; pathExists(name); n++) name = `${path}-${n}`;
  return name;
}

/** How to take back a command's output: remove it, or put back what was there before it first ran. */
export function planCreatedPathRemoval(commands: ManifestCommand[], keep: Set<string> = new Set()): UninstallStep[] {
  return commands.flatMap((command) =>
    (command.creates ?? [])
      .filter((path) => !keep.has(path))
      .flatMap((path): UninstallStep[] => {
        const original = command.originals?.find((o) => o.path === path);
        if (!original) return pathExists(path) ? [{ kind: "remove-tree", path }] : [];
        if (pathExists(original.backup)) return [{ kind: "restore-tree", path, backup: original.backup }];
        return pathExists(path)
          ? [
              {
                kind: "keep-file",
                path,
                reason: `the backup of what was there before (${original.backup}) is missing, so it cannot be put back`,
                missingBackup: true,
              },
            ]
          : [];
      }),
  );
}

/**
 * What a new plan takes back from the previous install (its manifest): files and command outputs
 * it no longer writes (the extension moved to another scope or project, a file a newer version
 * dropped), services it no longer loads, a crontab block it no longer needs, and the folders that
 * leaves empty. Part of the Plan, so it is shown before anything happens.
 */
export function planTakeBack(previous: Manifest, steps: PlanStep[]): TakeBackStep[] {
  const step = (component: string, description: string, removal: UninstallStep): TakeBackStep => {
    const { kind, ...rest } = removal;
    return { kind: "take-back", component, description, action: kind, ...rest } as TakeBackStep;
  };
  const key = (argv: string[]) => argv.join("\0");
  const plannedCommands = new Set(steps.flatMap((s) => (s.kind === "command" ? [key(s.argv)] : [])));
  const unload = previous.commands
    .filter((command) => command.undoArgv && !plannedCommands.has(key(command.argv)))
    .map(
      (command): TakeBackStep => ({
        kind: "take-back",
        component: command.component,
        description: "unload what the previous install loaded and this one no longer uses",
        action: "unload",
        argv: command.undoArgv!,
        reloadArgv: command.argv,
      }),
    );
  const plannedFiles = new Set(steps.flatMap((s) => (s.kind === "file" ? [s.path] : [])));
  const stale = previous.files.filter((file) => !plannedFiles.has(file.path));
  const files = planFileRemoval(stale, join(previous.settings.extensionDir, EXTENSION_ENTRY)).map((removal) => {
    const file = stale.find((f) => "path" in removal && f.path === removal.path);
    return step(file?.component ?? "cleanup", "take back a file the previous install wrote", removal);
  });
  const plannedCreates = new Set(steps.flatMap((s) => (s.kind === "command" ? (s.creates ?? []) : [])));
  const created = previous.commands.flatMap((command) =>
    planCreatedPathRemoval([command], plannedCreates).map((removal) =>
      step(command.component, `take back what the previous install's command created (${command.argv.join(" ")})`, removal),
    ),
  );
  // a block under another name (an install from before the names were per agent dir) is no longer used either
  const previousBlock = installedBlockName(previous.settings);
  const crontab =
    previous.crontab && !steps.some((s) => s.kind === "crontab" && (s.block ?? DEFAULT_BLOCK) === previousBlock)
      ? [step("crontab", "the previous install's crontab block, no longer used", removeBlockStep(previous.settings))]
      : [];
  const changes = [...unload, ...files, ...created, ...crontab];
  const plannedPaths = steps.flatMap((s) => ("path" in s ? [s.path] : []));
  // the state dir holds the manifest and the backups, which stay
  const { stateDir } = previous.settings;
  const backups = join(stateDir, "backups");
  const dirs = [...new Set([...previous.createdDirs, ...stale.map((f) => dirname(f.path))])]
    .filter((dir) => !plannedPaths.some((path) => path === dir || path.startsWith(dir + "/")))
    .filter((dir) => dir !== stateDir && dir !== backups && !dir.startsWith(backups + "/") && !stateDir.startsWith(dir + "/"))
    .filter((dir) => existsSync(dir) && statSync(dir).isDirectory())
    .sort((a, b) => a.length - b.length);
  // only worth a step when something goes, or a folder is already empty
  const emptyNow = dirs.some((dir) => readdirSync(dir).length === 0);
  if (dirs.length && (changes.length || emptyNow)) {
    changes.push(step("cleanup", "remove the folders the previous install created, where empty", { kind: "remove-dirs-if-empty", paths: dirs }));
  }
  return changes;
}

/**
 * What a removal does, as a verb and the rest of its line, for uninstall's list and the plan's
 * take-back of a previous install alike (each pads the verb to its own column).
 */
export function describeRemoval(step: UninstallStep, env: Env): [verb: string, text: string] {
  switch (step.kind) {
    case "run":
      return ["run", step.argv.join(" ")];
    case "remove-crontab-block":
      return ["remove", "gateway-setup's block from your crontab (nothing else in it)"];
    case "remove-file":
      return ["remove", displayPath(step.path, env)];
    case "restore-file":
      return ["restore", `${displayPath(step.path, env)} (the file that was there before)`];
    case "keep-file":
      return step.keptAs
        ? ["keep", `${displayPath(step.path, env)} as ${displayPath(step.keptAs, env)} (${step.reason})`]
        : ["keep", `${displayPath(step.path, env)} (${step.reason}${step.backup ? `; the original is in ${displayPath(step.backup, env)}` : ""})`];
    case "remove-tree":
      return ["remove", `${displayPath(step.path, env)}${existsSync(step.path) && statSync(step.path).isDirectory() ? "/ (and everything in it)" : ""}`];
    case "restore-tree":
      return ["restore", `${displayPath(step.path, env)} (what was there before)`];
    case "remove-dirs-if-empty":
      return ["remove", "the folders gateway-setup created, where empty"];
  }
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

/** A take-back step as the removal it is (unload and crontab are run by the caller). */
export function takeBackRemoval(step: TakeBackStep): UninstallStep | undefined {
  if (step.action === "unload") return undefined;
  const { kind: _kind, component: _component, description: _description, action, ...rest } = step;
  return { kind: action, ...rest } as UninstallStep;
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
