// launchd agents as data: the plist is built from an object (never string-pasted), loaded with the
// modern verbs (enable + bootstrap gui/<uid>), unloaded with bootout.
import plist from "plist";
import { join } from "node:path";
import type { CommandStep } from "../../plan/plan.ts";

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

export function renderLaunchdPlist(job: LaunchdJob): string {
  const dict: Record<string, plist.PlistValue> = {
    Label: job.label,
    ProgramArguments: job.programArguments,
    EnvironmentVariables: job.environment,
    WorkingDirectory: job.workingDirectory,
    StandardOutPath: join(job.logDir, `${job.label}.out.log`),
    StandardErrorPath: join(job.logDir, `${job.label}.err.log`),
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
  return plist.build(dict) + "\n";
}

/** load: a stale copy is booted out first (allowed to fail), then enable + bootstrap; undo: bootout */
export function launchdLoadSteps(component: string, uid: number, label: string, plistPath: string, satisfied: boolean): CommandStep[] {
  const domain = `gui/${uid}`;
  const base = { kind: "command" as const, component, ...(satisfied ? { satisfied: true } : {}) };
  return [
    { ...base, description: `unload an older ${label} if loaded`, argv: ["launchctl", "bootout", `${domain}/${label}`], mayFail: true },
    { ...base, description: `enable ${label}`, argv: ["launchctl", "enable", `${domain}/${label}`] },
    { ...base, description: `load ${label}`, argv: ["launchctl", "bootstrap", domain, plistPath], undoArgv: ["launchctl", "bootout", `${domain}/${label}`] },
  ];
}
