// Doctor's check that the gateway's state dir is private: it holds the Redis password, the central
// pi's last screen (which may show secrets), the daemon's status and backups. Every folder in it is
// 0700 and every file the running system writes there 0600. The files an install wrote keep the
// modes the manifest records (extension-files checks those), and backups keep their originals'
// modes, which uninstall puts back (their 0700 folders keep them private).
import { lstatSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import type { DoctorCheck } from "../../core/check.ts";
import { fail, ok } from "../../core/finding.ts";
import type { Manifest } from "../../core/manifest.ts";
import { makePrivate, SHARED_BITS } from "../../install/fs-ops.ts";
import { displayPath } from "../../platform/paths.ts";

export const STATE_MODES_CHECK = "state-modes";

export interface SharedPath {
  path: string;
  mode: number;
}

/** Everything under the state dir that other users may read or enter but should not. */
export function sharedStatePaths(manifest: Manifest): SharedPath[] {
  const stateDir = manifest.settings.stateDir;
  const installed = new Set(manifest.files.filter((file) => !file.secret).map((file) => file.path));
  const backups = join(stateDir, "backups");
  const found: SharedPath[] = [];
  const visit = (path: string) => {
    let stat: ReturnType<typeof lstatSync>;
    try {
      stat = lstatSync(path);
    } catch {
      return;
    }
    const mode = stat.mode & 0o777;
    if (stat.isDirectory()) {
      if (mode & SHARED_BITS) found.push({ path, mode });
      // a copy of a node_modules (kept to put it back) is private through its folder
      for (const name of readdirSync(path)) if (name !== "node_modules") visit(join(path, name));
    } else if (stat.isFile() && mode & SHARED_BITS && !installed.has(path) && !path.startsWith(backups + "/")) {
      found.push({ path, mode });
    }
  };
  visit(stateDir);
  return found;
}

const describe = (shared: SharedPath[], stateDir: string) =>
  shared.map(({ path, mode }) => `${relative(stateDir, path) || "the state dir"} (${mode.toString(8).padStart(4, "0")})`).join(", ");

export const stateModesCheck: DoctorCheck = {
  id: STATE_MODES_CHECK,
  async run({ manifest, env }) {
    const stateDir = manifest.settings.stateDir;
    const shared = sharedStatePaths(manifest);
    if (!shared.length) return ok(STATE_MODES_CHECK, `${displayPath(stateDir, env)} and what the gateway writes in it are for your user only`);
    return fail(
      STATE_MODES_CHECK,
      `other users may read ${displayPath(stateDir, env)}, which holds secrets and pi's output: ${describe(shared, stateDir)}`,
      "gateway-setup doctor --fix (folders 0700, files 0600)",
    );
  },
  async repair({ manifest, recordUndo }) {
    const stateDir = manifest.settings.stateDir;
    const shared = sharedStatePaths(manifest);
    for (const { path } of shared) makePrivate(path, recordUndo);
    return `took the group's and other users' permissions off ${describe(shared, stateDir)}`;
  },
};
