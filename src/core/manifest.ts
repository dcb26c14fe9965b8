// What an install changed, as recorded in its manifest: doctor checks it, uninstall reverses it.
import type { InstalledAnswers } from "./answers.ts";
import type { PlanSettings } from "./plan.ts";

export interface ManifestFile {
  path: string;
  component: string;
  /** absent for secret files: no fingerprint of a secret is stored */
  sha256?: string;
  /**
   * the file as stat saw it when the manifest was written, if its times had settled by then: while
   * it still has this signature, it holds the contents hashed in `sha256` (doctor need not read it)
   */
  signature?: FileSignature;
  mode: number;
  secret?: boolean;
  /** the user's to edit (HEARTBEAT.md): not drift when changed, kept by uninstall when edited */
  createOnly?: boolean;
  /** what was at this path before gateway-setup first wrote it */
  original: { existed: false } | { existed: true; backup: string };
}

/** What stat says of a file: its size, times and identity. */
export interface FileSignature {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  dev: number;
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
  /** the answers this install was made from, as they took effect (never the password); absent in manifests older versions wrote */
  answers?: InstalledAnswers;
  files: ManifestFile[];
  commands: ManifestCommand[];
  /** gateway-setup's block in the user's crontab, if it installed one */
  crontab?: { entries: { schedule: string; command: string }[] };
  /** directories created by gateway-setup, outermost first (removed on uninstall when empty) */
  createdDirs: string[];
}
