// launchd agents as data: the plist is built from an object (never string-pasted), loaded with the
// modern verbs (enable + bootstrap gui/<uid>), unloaded with bootout; a failed re-install loads the
// older job again.

import { createRequire } from "node:module";
import { join } from "node:path";
import type PlistModule from "plist";
import type { CommandStep, FileStep, PlanStep } from "../../core/plan.ts";
import { fileChange } from "../../plan/file-change.ts";

export interface LaunchdJob {
  label: string;
  programArguments: string[];
  environment: Record<string, string>;
  workingDirectory: string;
  logDir: string;
  /** a long-running job: start at login and restart whenever it exits */
  keepAlive?: boolean;
  /** a periodic job: run every this many seconds */
  startInterval?: number;
}

export function launchAgentsDir(home: string): string {
  return join(home, "Library", "LaunchAgents");
}

/** ~/Library/Logs/pi-gateway: the jobs' stdout and stderr */
export function launchdLogDir(home: string): string {
  return join(home, "Library", "Logs", "pi-gateway");
}

/** The labels of the jobs an install may load for a central service called `name`. */
export function launchdJobLabels(name: string): { central: string; heartbeat: string; tripwire: string } {
  return { central: name, heartbeat: `${name}.heartbeat`, tripwire: `${name}.tripwire` };
}

export function launchdLogFiles(logDir: string, label: string): { out: string; err: string } {
  return { out: join(logDir, `${label}.out.log`), err: join(logDir, `${label}.err.log`) };
}

/** plist (and its XML builder) loads only where a plist is written: not for doctor or status on Linux */
function plist(): typeof PlistModule {
  return createRequire(import.meta.url)("plist") as typeof PlistModule;
}

export function renderLaunchdPlist(job: LaunchdJob): string {
  const dict: Record<string, PlistModule.PlistValue> = {
    Label: job.label,
    ProgramArguments: job.programArguments,
    EnvironmentVariables: job.environment,
    WorkingDirectory: job.workingDirectory,
    StandardOutPath: launchdLogFiles(job.logDir, job.label).out,
    StandardErrorPath: launchdLogFiles(job.logDir, job.label).err,
    ProcessType: job.keepAlive ? "Interactive" : "Background",
  };
  if (job.keepAlive) {
    dict.RunAtLoad = true;
    dict.KeepAlive = true;
    dict.ThrottleInterval = 10;
  }
  if (job.startInterval) {
    dict.StartInterval = job.startInterval;
    dict.RunAtLoad = false;
  }
  return plist().build(dict) + "\n";
}

/**
 * `launchctl bootstrap` retried for a few seconds: right after a bootout launchd may still be
 * tearing the old job down and refuses with "Bootstrap failed: 5: Input/output error". The retry
 * lives in the argv (a fixed sh loop, the launchctl argv passed as its arguments, nothing pasted
 * into the script), so rollback's undo, which bootstraps right after a bootout, gets it too.
 */
export function bootstrapArgv(domain: string, plistPath: string): string[] {
  const retry = 'n=1; until "$@"; do s=$?; [ "$n" -ge 5 ] && exit "$s"; n=$((n + 1)); sleep 1; done';
  return ["/bin/sh", "-c", retry, "launchctl-retry", "launchctl", "bootstrap", domain, plistPath];
}

/**
 * A job's plist and how it is loaded: enable + bootstrap (undo: bootout). A plist that was there
 * before is booted out first, before it is replaced, with a rollback-only undo that bootstraps it
 * again once rollback has put the old plist back; a fresh one may still have a stale copy loaded,
 * booted out first (allowed to fail). An unchanged plist needs nothing.
 */
export function launchdInstallSteps(component: string, uid: number, label: string, plistFile: FileStep): PlanStep[] {
  const domain = `gui/${uid}`;
  const change = fileChange(plistFile.path, plistFile.contents, plistFile.mode);
  const base = { kind: "command" as const, component, ...(change === "unchanged" ? { satisfied: true } : {}) };
  const bootout: CommandStep = {
    ...base,
    description: `unload an older ${label} if loaded`,
    argv: ["launchctl", "bootout", `${domain}/${label}`],
    mayFail: true,
  };
  const load: CommandStep[] = [
    { ...base, description: `enable ${label}`, argv: ["launchctl", "enable", `${domain}/${label}`] },
    { ...base, description: `load ${label}`, argv: bootstrapArgv(domain, plistFile.path), undoArgv: ["launchctl", "bootout", `${domain}/${label}`] },
  ];
  return change === "changed"
    ? [{ ...bootout, undoArgv: bootstrapArgv(domain, plistFile.path), rollbackOnly: true }, plistFile, ...load]
    : [plistFile, bootout, ...load];
}
