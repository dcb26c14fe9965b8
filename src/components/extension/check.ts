// Doctor checks for the installed files: they still match the manifest, and the extension's own
// node_modules hold ioredis. Repairs re-render from the manifest's settings through the plan code.
import { chmodSync } from "node:fs";
import { dirname } from "node:path";
import type { DoctorCheck, DoctorContext } from "../../core/check.ts";
import { type Finding, fail, ok } from "../../core/finding.ts";
import type { ManifestFile } from "../../core/manifest.ts";
import { backupPath, backupRoot, ensureDir, missingDirs, readExisting, sha256, writeFileAtomic } from "../../install/fs-ops.ts";
import { displayPath } from "../../platform/paths.ts";
import { rerunCommand } from "../rerun.ts";
import { ioredisFits, ioredisInstalled, NPM_INSTALL_ARGV, requiredIoredisMajor, runNpmInstall } from "./render.ts";

type Drift = { file: ManifestFile; problem: "missing" | "edited" | "mode" };

function findDrift(files: ManifestFile[]): Drift[] {
  const drift: Drift[] = [];
  for (const file of files.filter((f) => !f.createOnly)) {
    const current = readExisting(file.path);
    if (!current) drift.push({ file, problem: "missing" });
    else if (file.sha256 !== undefined && sha256(current.contents) !== file.sha256) drift.push({ file, problem: "edited" });
    else if (current.mode !== file.mode) drift.push({ file, problem: "mode" });
  }
  return drift;
}

/** What the install wrote, rendered again for the manifest's settings, for the files whose hash still matches. */
function restorableContents({ manifest, replan }: DoctorContext): Map<string, string> {
  const steps = replan();
  const recorded = new Map(manifest.files.map((file) => [file.path, file.sha256]));
  const byPath = new Map<string, string>();
  for (const step of steps) {
    if (step.kind === "file" && recorded.get(step.path) === sha256(step.contents)) byPath.set(step.path, step.contents);
  }
  return byPath;
}

export const extensionFilesCheck: DoctorCheck = {
  id: "extension-files",
  async run(ctx) {
    const { manifest, env } = ctx;
    const drift = findDrift(manifest.files);
    if (!drift.length) return ok("extension-files", `${manifest.files.length} installed files match the manifest`);
    const list = drift.map((d) => `${displayPath(d.file.path, env)} (${d.problem})`).join(", ");
    const restorable = restorableContents(ctx);
    const fix = drift.every((d) => d.problem === "mode" || restorable.has(d.file.path))
      ? "gateway-setup doctor --fix"
      : `re-run the install: ${rerunCommand(manifest)}`;
    return fail("extension-files", `${drift.length} installed file(s) differ from the install: ${list}`, fix);
  },
  async repair(ctx) {
    const rendered = restorableContents(ctx);
    const backups = backupRoot(ctx.manifest.settings.stateDir, new Date());
    const done: string[] = [];
    const cannot: string[] = [];
    for (const { file, problem } of findDrift(ctx.manifest.files)) {
      if (problem === "mode") {
        // the contents are as installed (a secrets file's too): only its permissions go back
        chmodSync(file.path, file.mode);
        done.push(`${displayPath(file.path, ctx.env)} (mode ${file.mode.toString(8)})`);
        continue;
      }
      const contents = rendered.get(file.path);
      if (contents === undefined) {
        cannot.push(displayPath(file.path, ctx.env));
        continue;
      }
      const current = problem === "edited" ? readExisting(file.path) : undefined;
      let saved = "";
      if (current) {
        const backup = backupPath(backups, file.path);
        ensureDir(dirname(backup), 0o700);
        writeFileAtomic(backup, current.contents, current.mode);
        saved = ` (your edited copy is in ${displayPath(backup, ctx.env)})`;
        ctx.recordUndo?.({ undo: "restore-file", path: file.path, from: backup, mode: current.mode });
      } else {
        const missing = missingDirs(dirname(file.path));
        if (missing.length) ctx.recordUndo?.({ undo: "remove-empty-dirs", paths: missing });
        ctx.recordUndo?.({ undo: "remove", path: file.path });
      }
      ensureDir(dirname(file.path));
      writeFileAtomic(file.path, contents, file.mode);
      done.push(displayPath(file.path, ctx.env) + saved);
    }
    const parts = [];
    if (done.length) parts.push(`restored ${done.join(", ")}`);
    if (cannot.length) parts.push(`cannot re-create ${cannot.join(", ")} from this install's settings; re-run the install: ${rerunCommand(ctx.manifest)}`);
    return parts.join("; ");
  },
};

export const extensionDepsCheck: DoctorCheck = {
  id: "extension-deps",
  async run({ manifest }): Promise<Finding> {
    const dir = manifest.settings.extensionDir;
    const version = ioredisInstalled(dir);
    const fix = `gateway-setup doctor --fix (or: cd ${dir} && ${NPM_INSTALL_ARGV.join(" ")})`;
    if (!version) return fail("extension-deps", "the extension's own node_modules do not contain ioredis, so pi starts without the gateway", fix);
    if (!ioredisFits(version))
      return fail("extension-deps", `the extension's node_modules hold ioredis ${version}, but it needs ioredis ${requiredIoredisMajor()}.x`, fix);
    return ok("extension-deps", `ioredis ${version} is installed in the extension's node_modules`);
  },
  async repair({ manifest, env }: DoctorContext) {
    await runNpmInstall(manifest.settings.extensionDir, manifest.settings.stateDir, env);
    return "ran npm install in the extension dir";
  },
};
