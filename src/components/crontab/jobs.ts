// gateway-setup keeps one marked block per install in the user's crontab. A component that runs a
// job by cron plans one line of it (cronLineStep); the plan then holds one block with every line,
// in the place of the last line asked for (after the files the lines run).
import type { CrontabStep, PlanSettings, PlanStep } from "../../core/plan.ts";
import type { SystemInfo } from "../../core/system.ts";
import { startCronCommand } from "../../platform/system.ts";
import { INSTALL_HINTS, requiredBinary } from "../service/jobs.ts";
import { watchdogOn } from "../watchdog/enabled.ts";
import { DEFAULT_BLOCK } from "./block.ts";

type CronEntry = CrontabStep["entries"][number];

/** the PATH each of our cron commands runs with */
export const CRON_PATH = "/usr/bin:/bin";

/**
 * One line of gateway-setup's block; `job` names what it runs ("the heartbeat"). The command sets
 * its own PATH through env (whatever the user's SHELL): an environment line in the crontab would
 * apply to every later line, the user's own jobs below the block too.
 */
export function cronLineStep(component: string, job: string, entry: CronEntry): CrontabStep {
  return { kind: "crontab", component, description: job, entries: [{ ...entry, command: `/usr/bin/env PATH=${CRON_PATH} ${entry.command}` }] };
}

/** The name in the markers of an install's block: its own, else the default agent dir's (and every install's before they had one). */
export function installedBlockName(settings: Pick<PlanSettings, "crontabBlock">): string {
  return settings.crontabBlock ?? DEFAULT_BLOCK;
}

/** What the block runs for an install with these settings: the heartbeat (--heartbeat cron), the tripwire (no service manager), or both. */
export function cronJobs(settings: PlanSettings): string {
  const jobs = [
    ...(settings.heartbeat?.source === "cron" ? ["the heartbeat"] : []),
    ...(settings.service?.manager === "none" && watchdogOn(settings) ? ["the tripwire"] : []),
  ];
  return jobs.join(" and ") || "the jobs";
}

/** The lines the components asked for, as one block step; and what the user must know when no cron daemon runs them. */
export function crontabBlock(steps: PlanStep[], system: SystemInfo, settings: PlanSettings): { steps: PlanStep[]; notes: string[] } {
  const lines = steps.filter((step): step is CrontabStep => step.kind === "crontab");
  if (!lines.length) return { steps, notes: [] };
  requiredBinary(system, "crontab", INSTALL_HINTS.crontab);
  const block: CrontabStep = {
    kind: "crontab",
    component: "crontab",
    description: "gateway-setup's block in your crontab",
    ...(settings.crontabBlock ? { block: settings.crontabBlock } : {}),
    entries: lines.flatMap((line) => line.entries),
  };
  const last = lines[lines.length - 1];
  const notes =
    system.cronRunning === false
      ? [
          `No cron daemon is running here (a container?): ${lines.map((line) => line.description).join(" and ")} in your crontab will not run until one is. ` +
            `Start it with: ${startCronCommand(system.isRoot)} (the daemon is crond on Fedora or Alpine); a container needs it started each time it starts.`,
        ]
      : [];
  return { steps: steps.flatMap<PlanStep>((step) => (step === last ? [block] : step.kind === "crontab" ? [] : [step])), notes };
}
