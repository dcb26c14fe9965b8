// The manifest records everything an install changed, so doctor can check it and uninstall can
// reverse it. It lives in the gateway's state dir and is itself written atomically.
import { readFileSync } from "node:fs";
import type { PlanSettings } from "../plan/plan.ts";

export interface ManifestFile {
  path: string;
  component: string;
  /** absent for secret files: no fingerprint of a secret is stored */
  sha256?: string;
  mode: number;
  secret?: boolean;
  /** the user's to edit (HEARTBEAT.md): not drift when changed, kept by uninstall when edited */
  createOnly?: boolean;
  /** what was at this path before gateway-setup first wrote it */
  original: { existed: false } | { existed: true; backup: string };
}

export interface ManifestCommand {
  component: string;
  argv: string[];
  cwd?: string;
  creates?: string[];
  /**
   * created paths that were there before gateway-setup first ran the command (the user's own
   * node_modules, package-lock.json): their copy in backups/, which uninstall puts back
   */
  originals?: { path: string; backup: string }[];
  /** how uninstall takes the command back (e.g. launchctl bootout) */
  undoArgv?: string[];
}

export interface Manifest {
  tool: "gateway-setup";
  formatVersion: 1;
  version: string;
  /** how gateway-setup was invoked (secrets never appear in argv, so this is safe) */
  command: string;
  installedAt: string;
  updatedAt: string;
  settings: PlanSettings;
  files: ManifestFile[];
  commands: ManifestCommand[];
  /** gateway-setup's block in the user's crontab, if it installed one */
  crontab?: { entries: { schedule: string; command: string }[] };
  /** directories created by gateway-setup, outermost first (removed on uninstall when empty) */
  createdDirs: string[];
}

export function readManifest(path: string): Manifest | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw error;
  }
  let parsed: Manifest;
  try {
    parsed = JSON.parse(text) as Manifest;
  } catch (error) {
    throw new ManifestError(path, `is not valid JSON (truncated or corrupt: ${(error as Error).message})`);
  }
  if (parsed?.tool !== "gateway-setup" || parsed.formatVersion !== 1 || !parsed.settings || !Array.isArray(parsed.files)) {
    throw new ManifestError(path, "is not a gateway-setup manifest this version understands");
  }
  return parsed;
}

/** The manifest exists but cannot be used: say which file, and how to get a good one again. */
export class ManifestError extends Error {
  readonly fix: string;
  constructor(readonly path: string, problem: string) {
    super(`the install manifest ${path} ${problem}`);
    this.fix = `move it aside (mv ${path} ${path}.broken) and run gateway-setup again to record the install afresh; then doctor, status and uninstall work again`;
  }
}

export function renderManifest(manifest: Manifest): string {
  return JSON.stringify(manifest, null, 2) + "\n";
}
