// The plan side of taking an install back: which removals its files and command outputs need,
// what a new plan takes back from the install it replaces, and how a removal reads. Setup plans
// with it on every re-run; doing the removals (uninstall.ts) loads only when there is one to do.
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { DEFAULT_BLOCK } from "../components/crontab/block.ts";
import { removeBlockStep } from "../components/crontab/index.ts";
import { installedBlockName } from "../components/crontab/jobs.ts";
import type { Manifest, ManifestCommand, ManifestFile } from "../core/manifest.ts";
import type { PlanStep, TakeBackStep, UninstallStep } from "../core/plan.ts";
import type { Env } from "../platform/exec.ts";
import { displayPath } from "../platform/paths.ts";
import { pathExists, readExisting, sha256 } from "./fs-ops.ts";

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

/** A take-back step as the removal it is (unload and crontab are run by the caller). */
export function takeBackRemoval(step: TakeBackStep): UninstallStep | undefined {
  if (step.action === "unload") return undefined;
  const { kind: _kind, component: _component, description: _description, action, ...rest } = step;
  return { kind: action, ...rest } as UninstallStep;
}
