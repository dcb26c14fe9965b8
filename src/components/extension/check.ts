// Doctor checks for the installed extension: its files still match the manifest, and its own
// node_modules resolve ioredis. Repairs re-render from the manifest's settings.
import { fail, ok, type Finding } from "../../doctor/finding.ts";
import type { DoctorCheck, DoctorContext } from "../../doctor/check.ts";
import { readExisting, sha256, writeFileAtomic } from "../../install/fs-ops.ts";
import type { ManifestFile } from "../../install/manifest.ts";
import { describeFailure, run } from "../../platform/exec.ts";
import { displayPath } from "../../platform/paths.ts";
import { secretsFilePath } from "../redis/secrets.ts";
import { ioredisInstalled, NPM_INSTALL_ARGV, planExtension } from "./render.ts";

type Drift = { file: ManifestFile; problem: "missing" | "edited" | "mode" };

function findDrift(files: ManifestFile[]): Drift[] {
  const drift: Drift[] = [];
  for (const file of files.filter((f) => !f.createOnly)) {
    const current = readExisting(file.path);
    if (!current) drift.push({ file, problem: "missing" });
    else if (sha256(current.contents) !== file.sha256) drift.push({ file, problem: "edited" });
    else if (current.mode !== file.mode) drift.push({ file, problem: "mode" });
  }
  return drift;
}

/** What the install wrote, rendered again for the manifest's settings (only where it still matches). */
function renderedByHash(ctx: DoctorContext): Map<string, string> {
  const { settings } = ctx.manifest;
  const secretsFile = settings.redisPasswordSet ? secretsFilePath(settings.stateDir) : undefined;
  const byPath = new Map<string, string>();
  for (const step of planExtension({ settings, secretsFile })) {
    if (step.kind === "file") byPath.set(step.path, step.contents);
  }
  return byPath;
}

export const extensionFilesCheck: DoctorCheck = {
  id: "extension-files",
  async run({ manifest, env }) {
    const drift = findDrift(manifest.files);
    if (!drift.length) return ok("extension-files", `${manifest.files.length} installed files match the manifest`);
    const list = drift.map((d) => `${displayPath(d.file.path, env)} (${d.problem})`).join(", ");
    return fail("extension-files", `${drift.length} installed file(s) differ from the install: ${list}`, "gateway-setup doctor --fix");
  },
  async repair(ctx) {
    const rendered = renderedByHash(ctx);
    const done: string[] = [];
    const cannot: string[] = [];
    for (const { file } of findDrift(ctx.manifest.files)) {
      const contents = rendered.get(file.path);
      if (contents !== undefined && sha256(contents) === file.sha256) {
        writeFileAtomic(file.path, contents, file.mode);
        done.push(displayPath(file.path, ctx.env));
      } else {
        cannot.push(displayPath(file.path, ctx.env));
      }
    }
    const parts = [];
    if (done.length) parts.push(`restored ${done.join(", ")}`);
    if (cannot.length) parts.push(`cannot restore ${cannot.join(", ")} from this version: re-run gateway-setup with your settings`);
    return parts.join("; ");
  },
};

export const extensionDepsCheck: DoctorCheck = {
  id: "extension-deps",
  async run({ manifest }): Promise<Finding> {
    const dir = manifest.settings.extensionDir;
    const version = ioredisInstalled(dir);
    return version
      ? ok("extension-deps", `ioredis ${version} resolves from the extension's node_modules`)
      : fail("extension-deps", "the extension's node_modules do not contain ioredis, so pi starts without the gateway", `cd ${dir} && ${NPM_INSTALL_ARGV.join(" ")}`);
  },
  async repair({ manifest, env }) {
    const [binary, ...args] = NPM_INSTALL_ARGV;
    const result = await run(binary!, args, { cwd: manifest.settings.extensionDir, env, timeoutMs: 5 * 60_000 });
    if (result.code !== 0) throw new Error(describeFailure(result));
    return "ran npm install in the extension dir";
  },
};


