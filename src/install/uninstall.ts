// Uninstall is driven by the manifest: remove exactly what was installed, put back what was there
// before, keep (and name) anything the user edited since. Planned as data first, like install.
import { existsSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { readExisting, removeEmptyDirs, sha256, writeFileAtomic } from "./fs-ops.ts";
import { removeCronBlock } from "../components/heartbeat/crontab-block.ts";
import { runtimeArtifacts } from "../plan/tier2.ts";
import { centralTmuxArgv } from "../components/service/wrapper.ts";
import { readCrontab, writeCrontab } from "../platform/crontab.ts";
import { describeFailure, run, type Env } from "../platform/exec.ts";
import { readManifest, type Manifest, type ManifestCommand, type ManifestFile } from "./manifest.ts";

export type UninstallStep =
  | { kind: "run"; argv: string[]; description: string; mayFail?: boolean }
  | { kind: "remove-crontab-block" }
  | { kind: "remove-file"; path: string }
  | { kind: "restore-file"; path: string; backup: string }
  | { kind: "keep-file"; path: string; reason: string; backup?: string; missingBackup?: boolean }
  | { kind: "remove-tree"; path: string }
  | { kind: "remove-dirs-if-empty"; paths: string[] };

export interface UninstallPlan {
  manifestPath: string;
  manifest: Manifest;
  steps: UninstallStep[];
}

/** How to take back files an install wrote: remove, put the original back, or keep an edited one. */
export function planFileRemoval(files: ManifestFile[]): UninstallStep[] {
  return files.flatMap((file): UninstallStep[] => {
    const current = readExisting(file.path);
    const backup = file.original.existed ? file.original.backup : undefined;
    // secret files carry no fingerprint: they are ours to remove whatever they hold
    if (current && file.sha256 !== undefined && sha256(current.contents) !== file.sha256) {
      return [{ kind: "keep-file", path: file.path, reason: "edited since install", ...(backup ? { backup } : {}) }];
    }
    if (backup && !existsSync(backup)) {
      return current ? [{ kind: "keep-file", path: file.path, reason: `the backup of what was there before (${backup}) is missing, so it cannot be put back`, missingBackup: true }] : [];
    }
    if (backup) return [{ kind: "restore-file", path: file.path, backup }];
    return current ? [{ kind: "remove-file", path: file.path }] : [];
  });
}

export function planCreatedPathRemoval(commands: ManifestCommand[], keep: Set<string> = new Set()): UninstallStep[] {
  return commands.flatMap((command) => (command.creates ?? []).filter((path) => !keep.has(path) && existsSync(path)).map((path) => ({ kind: "remove-tree" as const, path })));
}

export function planUninstall(manifestPath: string): UninstallPlan | undefined {
  const manifest = readManifest(manifestPath);
  if (!manifest) return undefined;
  const service = manifest.settings.service;
  const steps: UninstallStep[] = [
    ...[...manifest.commands].reverse().flatMap((command): UninstallStep[] =>
      command.undoArgv ? [{ kind: "run", argv: command.undoArgv, description: `take back: ${command.argv.join(" ")}` }] : [],
    ),
    // the service manager stops the wrapper; the tmux session (and the central pi in it) goes too
    ...(service ? [{ kind: "run" as const, argv: centralTmuxArgv(service, "kill-session", "-t", `=${service.tmuxSession}`), description: "stop the central pi session", mayFail: true }] : []),
    ...(manifest.crontab ? [{ kind: "remove-crontab-block" as const }] : []),
    ...planFileRemoval(manifest.files),
    ...planCreatedPathRemoval(manifest.commands),
    ...runtimeArtifacts(manifest.settings).filter((path) => existsSync(path)).map((path) => ({ kind: "remove-file" as const, path })),
    // with the unit files gone, systemd's unit list is only as before after a reload
    ...(service?.manager === "systemd" ? [{ kind: "run" as const, argv: ["systemctl", "--user", "daemon-reload"], description: "make systemd forget the removed units", mayFail: true }] : []),
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
 * Runs the uninstall in order; commands that fail are reported, not fatal (the unit may be gone
 * already), and so is an original that cannot be put back.
 */
export async function applyUninstall(plan: UninstallPlan, env: Env = process.env): Promise<string[]> {
  const problems: string[] = [];
  for (const step of plan.steps) {
    if (step.kind === "run") {
      const [binary, ...args] = step.argv as [string, ...string[]];
      try {
        const result = await run(binary, args, { env, timeoutMs: 60_000 });
        if (result.code !== 0 && !step.mayFail) problems.push(describeFailure(result));
      } catch (error) {
        if (!step.mayFail) problems.push((error as Error).message);
      }
    } else if (step.kind === "remove-crontab-block") {
      const before = await readCrontab(env);
      const after = removeCronBlock(before);
      if (after !== before) await writeCrontab(after, env);
    } else {
      if (step.kind === "keep-file" && step.missingBackup) problems.push(`kept ${step.path}: ${step.reason}`);
      applyRemovalSteps([step]);
    }
  }
  return problems;
}

/** Runs removal steps; `undo`, when given, receives how to reverse each file change (for rollback). */
export function applyRemovalSteps(steps: UninstallStep[], undo?: (() => void)[], onCommit?: (() => void)[]): void {
  for (const step of steps) {
    switch (step.kind) {
      case "remove-file": {
        const current = readExisting(step.path);
        rmSync(step.path, { force: true });
        if (current) undo?.push(() => writeFileAtomic(step.path, current.contents, current.mode));
        break;
      }
      case "restore-file": {
        const original = readExisting(step.backup);
        if (!original) throw new Error(`the backup ${step.backup} of ${step.path} is missing; nothing to restore`);
        const current = readExisting(step.path);
        writeFileAtomic(step.path, original.contents, original.mode);
        if (!undo) rmSync(step.backup, { force: true });
        else if (current) undo.push(() => writeFileAtomic(step.path, current.contents, current.mode));
        break;
      }
      case "remove-tree":
        if (undo) {
          // inside a transaction: move it aside now, delete it for good only when the install commits
          const aside = `${step.path}.gateway-setup-retired-${process.pid}`;
          renameSync(step.path, aside);
          undo.push(() => renameSync(aside, step.path));
          onCommit?.push(() => rmSync(aside, { recursive: true, force: true }));
        } else {
          rmSync(step.path, { recursive: true, force: true });
        }
        break;
      case "remove-dirs-if-empty":
        removeEmptyDirs(step.paths.filter((p) => existsSync(p) && statSync(p).isDirectory()));
        break;
      case "keep-file":
      case "run":
      case "remove-crontab-block":
        break;
    }
  }
}
