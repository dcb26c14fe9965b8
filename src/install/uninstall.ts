// Uninstall is driven by the manifest: remove exactly what was installed, put back what was there
// before, keep (and name) anything the user edited since. Planned as data first, like install.
import { existsSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { readExisting, removeEmptyDirs, sha256, writeFileAtomic } from "./fs-ops.ts";
import { readManifest, type Manifest } from "./manifest.ts";

export type UninstallStep =
  | { kind: "remove-file"; path: string }
  | { kind: "restore-file"; path: string; backup: string }
  | { kind: "keep-file"; path: string; reason: string; backup?: string }
  | { kind: "remove-tree"; path: string }
  | { kind: "remove-dirs-if-empty"; paths: string[] };

export interface UninstallPlan {
  manifestPath: string;
  manifest: Manifest;
  steps: UninstallStep[];
}

export function planUninstall(manifestPath: string): UninstallPlan | undefined {
  const manifest = readManifest(manifestPath);
  if (!manifest) return undefined;
  const steps: UninstallStep[] = [];
  const keptBackups = new Set<string>();
  for (const file of manifest.files) {
    const current = readExisting(file.path);
    const backup = file.original.existed ? file.original.backup : undefined;
    if (current && sha256(current.contents) !== file.sha256) {
      steps.push({ kind: "keep-file", path: file.path, reason: "edited since install", ...(backup ? { backup } : {}) });
      if (backup) keptBackups.add(backup);
    } else if (backup) {
      steps.push({ kind: "restore-file", path: file.path, backup });
    } else if (current) {
      steps.push({ kind: "remove-file", path: file.path });
    }
  }
  for (const command of manifest.commands) {
    for (const path of command.creates ?? []) if (existsSync(path)) steps.push({ kind: "remove-tree", path });
  }
  steps.push({ kind: "remove-file", path: manifestPath });
  const backups = join(manifest.settings.stateDir, "backups");
  if (existsSync(backups) && keptBackups.size === 0) steps.push({ kind: "remove-tree", path: backups });
  const dirs = [...new Set([...manifest.createdDirs, ...manifest.files.map((f) => dirname(f.path))])].sort((a, b) => a.length - b.length);
  steps.push({ kind: "remove-dirs-if-empty", paths: dirs });
  return { manifestPath, manifest, steps };
}

export function applyUninstall(plan: UninstallPlan): void {
  for (const step of plan.steps) {
    switch (step.kind) {
      case "remove-file":
        rmSync(step.path, { force: true });
        break;
      case "restore-file": {
        const original = readExisting(step.backup);
        if (!original) throw new Error(`the backup ${step.backup} of ${step.path} is missing; nothing to restore`);
        writeFileAtomic(step.path, original.contents, original.mode);
        rmSync(step.backup, { force: true });
        break;
      }
      case "remove-tree":
        rmSync(step.path, { recursive: true, force: true });
        break;
      case "remove-dirs-if-empty":
        removeEmptyDirs(step.paths.filter((p) => existsSync(p) && statSync(p).isDirectory()));
        break;
      case "keep-file":
        break;
    }
  }
}
