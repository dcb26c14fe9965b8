// Answers checked against this machine before anything is planned or written: the paths (the
// extension is loaded through file URLs), the project dir, the service manager and heartbeat this
// machine can run, the interval the scheduler can keep, and the checklist file. A choice the user
// can correct on the command line is a usage error (exit 2); a project dir that cannot be written
// is a failure (exit 1) that names it.
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { CRON_SCHEDULERS, cronSchedule, parseInterval } from "../components/heartbeat/interval.ts";
import { type Answers, DEFAULT_HEARTBEAT_EVERY, type HeartbeatSource, tierShape } from "../core/answers.ts";
import { PlanError, UsageError } from "../core/errors.ts";
import type { SystemInfo } from "../core/system.ts";
import type { Env } from "../platform/exec.ts";
import { agentDir, extensionDir } from "../platform/paths.ts";
import { shellQuote } from "../platform/shell.ts";

type ServiceManager = SystemInfo["serviceManager"];

export function validateAnswers(answers: Answers, system: SystemInfo, env: Env): void {
  refuseUnsafePath(agentDir(env), "the agent dir", "set PI_CODING_AGENT_DIR to a directory whose path has none of them");
  if (answers.scope === "project") validateProjectDir(answers.projectDir, extensionDir("project", answers.projectDir, env));
  if (tierShape(answers.tier).central) validateTier2(answers, system);
}

/** What a file URL cannot carry as it is: pi loads the extension (and its lib/ and node_modules) through file URLs. */
const UNSAFE_IN_PATHS: [string, string][] = [
  ["#", '"#"'],
  ["%", '"%"'],
  ["?", '"?"'],
  ["\\", "a backslash"],
  ["\t", "a tab"],
  ["\n", "a newline"],
  ["\r", "a carriage return"],
];

function refuseUnsafePath(path: string, what: string, fix: string): void {
  const found = UNSAFE_IN_PATHS.filter(([char]) => path.includes(char)).map(([, name]) => name);
  if (!found.length) return;
  throw new UsageError(
    `${what} ${JSON.stringify(path)} contains ${found.join(" and ")}: pi loads the extension through file URLs, which cannot carry ` +
      `#, %, ?, backslashes, tabs or newlines in a path`,
    fix,
  );
}

function validateProjectDir(projectDir: string, extensionDir: string): void {
  refuseUnsafePath(projectDir, "the project dir", "choose a --project-dir whose path has none of them, or --scope global");
  if (!existsSync(projectDir)) {
    throw new UsageError(
      `the project dir ${projectDir} does not exist`,
      `create it first (mkdir -p ${shellQuote(projectDir)}), or give the right --project-dir`,
    );
  }
  if (!statSync(projectDir).isDirectory()) throw new UsageError(`the project dir ${projectDir} is not a directory`, "give a directory with --project-dir");
  let existing = extensionDir;
  while (!existsSync(existing)) existing = dirname(existing);
  try {
    accessSync(existing, constants.W_OK);
  } catch (error) {
    throw new PlanError(
      `cannot write ${extensionDir}: ${existing} is not writable (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      `make ${existing} writable for your user, or choose another project with --project-dir (or --scope global), then run gateway-setup again`,
    );
  }
}

const MANAGER_NAMES: Record<ServiceManager, string> = {
  launchd: "launchd",
  systemd: "a systemd user manager (systemctl --user)",
  none: "no service manager (neither launchd nor a systemd user manager)",
};

/** --service names a service manager this machine runs, or none. */
export function validateService(service: Answers["service"], system: SystemInfo): void {
  if (!service || service === "none" || service === system.serviceManager) return;
  throw new UsageError(
    `--service ${service} needs ${MANAGER_NAMES[service]}, and this machine has ${MANAGER_NAMES[system.serviceManager]}`,
    system.serviceManager === "none"
      ? "use --service none (setup then says how to start the central session)"
      : `use --service ${system.serviceManager} (or none)`,
  );
}

/** What keeps the central session running and what sends the heartbeat must exist here; the interval must suit its scheduler. */
function validateTier2(answers: Answers, system: SystemInfo): void {
  validateService(answers.service, system);
  const has = `this machine has ${MANAGER_NAMES[system.serviceManager]}`;
  const manager = answers.service ?? system.serviceManager;
  const source: HeartbeatSource = answers.heartbeat ?? (manager === "none" ? "cron" : manager);
  if ((source === "launchd" || source === "systemd") && source !== manager) {
    const runs = manager === system.serviceManager ? has : `this run uses --service ${manager}`;
    const others = manager === "none" ? "cron or inngest" : `${manager}, cron or inngest`;
    throw new UsageError(`--heartbeat ${source} needs ${MANAGER_NAMES[source]}, and ${runs}`, `use --heartbeat ${others}`);
  }
  if (source === "none") return;
  validateInterval(answers.heartbeatEvery ?? DEFAULT_HEARTBEAT_EVERY, source);
  if (answers.heartbeatFile) validateChecklistFile(answers.heartbeatFile);
}

function validateInterval(every: string, source: HeartbeatSource): void {
  let seconds: number;
  try {
    seconds = parseInterval(every);
  } catch (error) {
    throw new UsageError(`--heartbeat-every: ${(error as Error).message}`);
  }
  // a schedule that only approximates the interval would leave gaps the watchdogs alarm about
  if (source === "cron" || source === "inngest") {
    try {
      cronSchedule(seconds, CRON_SCHEDULERS[source]);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
}

/** The checklist is a file setup creates (or keeps): a directory, a device or a path under a file cannot be one. */
function validateChecklistFile(path: string): void {
  const fix = "give the path of a file (created if missing), e.g. --heartbeat-file ~/HEARTBEAT.md";
  if (existsSync(path)) {
    const stat = statSync(path);
    if (stat.isDirectory()) throw new UsageError(`--heartbeat-file ${path} is a directory`, fix);
    if (!stat.isFile()) throw new UsageError(`--heartbeat-file ${path} is not a regular file (a device, a pipe or a socket)`, fix);
    return;
  }
  let parent = dirname(path);
  while (!existsSync(parent)) parent = dirname(parent);
  if (!statSync(parent).isDirectory()) throw new UsageError(`--heartbeat-file ${path}: ${parent} is a file, not a directory`, fix);
}
