// Doctor checks for the installed files: they still match the manifest (extension-files), and the
// extension's code, the bundle with ioredis in it, is intact (extension-deps). Repairs write back
// what the plan code renders for the manifest's settings, for files whose hash still matches.
import { chmodSync } from "node:fs";
import type { DoctorCheck, DoctorContext } from "../../core/check.ts";
import { type Finding, fail, ok, warn } from "../../core/finding.ts";
import type { Manifest, ManifestFile } from "../../core/manifest.ts";
import { backupRoot, hasSignature, readExisting, sha256 } from "../../install/fs-ops.ts";
import { displayPath } from "../../platform/paths.ts";
import { writeRepaired } from "../repair-file.ts";
import { rerunCommand } from "../rerun.ts";
import { BUNDLE_NAME, bundleFileIoredisVersion, installedBundlePath } from "./render.ts";

type Drift = { file: ManifestFile; problem: "missing" | "edited" | "mode" };

function findDrift(files: ManifestFile[]): Drift[] {
  const drift: Drift[] = [];
  for (const file of files.filter((f) => !f.createOnly)) {
    // unchanged since the manifest was written: the contents hashed then, and the mode checked with them
    if (file.signature && file.sha256 !== undefined && hasSignature(file.path, file.signature, file.mode)) continue;
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

/** doctor --fix, or a re-run of the install when the package holds other contents than were installed (an upgrade since). */
function driftFix(ctx: DoctorContext, drift: Drift[]): string {
  const restorable = restorableContents(ctx);
  return drift.every((d) => d.problem === "mode" || restorable.has(d.file.path))
    ? "gateway-setup doctor --fix"
    : `re-run the install: ${rerunCommand(ctx.manifest)}`;
}

/** Puts each drifted file back (an edited copy saved in backups/), writing down the undo first. */
function restoreDrift(ctx: DoctorContext, drift: Drift[]): string {
  const rendered = restorableContents(ctx);
  const backups = backupRoot(ctx.manifest.settings.stateDir, new Date());
  const done: string[] = [];
  const cannot: string[] = [];
  for (const { file, problem } of drift) {
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
    const kept = writeRepaired(ctx, backups, file.path, contents, file.mode);
    done.push(displayPath(file.path, ctx.env) + (kept ? ` (your edited copy is in ${displayPath(kept, ctx.env)})` : ""));
  }
  const parts = [];
  if (done.length) parts.push(`restored ${done.join(", ")}`);
  if (cannot.length) parts.push(`cannot re-create ${cannot.join(", ")} from this install's settings; re-run the install: ${rerunCommand(ctx.manifest)}`);
  return parts.join("; ");
}

const isBundle = (manifest: Manifest) => (file: ManifestFile) => file.path === installedBundlePath(manifest.settings.extensionDir);
/** every installed file but the bundle, which extension-deps checks */
const otherFiles = (manifest: Manifest) => manifest.files.filter((file) => !isBundle(manifest)(file));

export const extensionFilesCheck: DoctorCheck = {
  id: "extension-files",
  async run(ctx) {
    const { manifest, env } = ctx;
    const files = otherFiles(manifest);
    const drift = findDrift(files);
    if (!drift.length)
      return ok("extension-files", files.length === 1 ? "1 installed file matches the manifest" : `${files.length} installed files match the manifest`);
    const list = drift.map((d) => `${displayPath(d.file.path, env)} (${d.problem})`).join(", ");
    return fail("extension-files", `${drift.length} installed file(s) differ from the install: ${list}`, driftFix(ctx, drift));
  },
  async repair(ctx) {
    return restoreDrift(ctx, findDrift(otherFiles(ctx.manifest)));
  },
};

const BUNDLE_PROBLEMS: Record<Drift["problem"], string> = {
  missing: "is missing, so pi starts without the gateway",
  edited: "differs from the one installed (its sha256 is in the manifest), so pi may run code gateway-setup did not ship",
  mode: "has other permissions than it was installed with",
};

/**
 * The id stays `extension-deps` (what the extension needs to run: its dependencies are inside the
 * bundle now), so scripts that run `doctor --only extension-deps` or read it from --json keep working.
 */
export const extensionBundleCheck: DoctorCheck = {
  id: "extension-deps",
  async run(ctx): Promise<Finding> {
    const { manifest, env } = ctx;
    const bundle = manifest.files.find(isBundle(manifest));
    if (!bundle) {
      // an install made before the extension shipped ready-built: lib/ sources and an npm-installed ioredis
      return warn(
        "extension-deps",
        `this install (gateway-setup ${manifest.version}) runs the extension from TypeScript sources and an npm-installed ioredis; ` +
          "a re-run installs the ready-built extension in their place",
        `re-run the install: ${rerunCommand(manifest)}`,
      );
    }
    const [drift] = findDrift([bundle]);
    if (drift) return fail("extension-deps", `${displayPath(bundle.path, env)} ${BUNDLE_PROBLEMS[drift.problem]}`, driftFix(ctx, [drift]));
    const ioredis = bundleFileIoredisVersion(bundle.path);
    return ok("extension-deps", `${BUNDLE_NAME} is as installed${ioredis ? ` (ioredis ${ioredis} bundled)` : ""}`);
  },
  async repair(ctx) {
    const bundle = ctx.manifest.files.find(isBundle(ctx.manifest));
    return bundle ? restoreDrift(ctx, findDrift([bundle])) : `nothing to repair here: ${rerunCommand(ctx.manifest)} installs the bundled extension`;
  },
};
