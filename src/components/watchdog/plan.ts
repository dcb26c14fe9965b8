// The tripwire's part of the Plan: its script, and its schedule (a launchd or systemd job, or a
// crontab line where no service manager runs; cron's schedule is coarser, and the script knows it).
import type { PlanContext } from "../../core/component.ts";
import type { PlanStep } from "../../core/plan.ts";
import { shellQuote } from "../../platform/shell.ts";
import { cronLineStep } from "../crontab/jobs.ts";
import { escapeForCron } from "../heartbeat/command.ts";
import { nearestCronSchedule, nearestCronSeconds } from "../heartbeat/interval.ts";
import { secretsFilePath } from "../redis/secrets.ts";
import { serviceJobSteps } from "../service/jobs.ts";
import { watchdogOn } from "./enabled.ts";
import { renderTripwire, tripwirePaths } from "./tripwire.ts";

const component = "watchdog";

/** Where the tripwire's alert goes in tier 4: the notify chats, else the owner. */
function telegramAlert(settings: PlanContext["settings"]): { apiRoot: string; chats: number[]; secretsFile: string } {
  const telegram = settings.telegram!;
  return { apiRoot: telegram.apiRoot, chats: telegram.notify ?? telegram.allow.slice(0, 1), secretsFile: secretsFilePath(settings.stateDir) };
}

export function planWatchdog(ctx: PlanContext): { steps: PlanStep[] } {
  const { settings } = ctx;
  if (!watchdogOn(settings)) return { steps: [] };
  const heartbeat = settings.heartbeat!;
  const byCron = settings.service?.manager === "none";
  const tripwire = tripwirePaths(settings.stateDir);
  const runEverySeconds = byCron ? nearestCronSeconds(heartbeat.intervalSeconds) : heartbeat.intervalSeconds;
  const script: PlanStep = {
    kind: "file",
    component,
    description: "heartbeat tripwire (watchdog layer 2)",
    path: tripwire.script,
    contents: renderTripwire(settings.stateDir, heartbeat.lastHeartbeatFile, heartbeat.intervalSeconds, {
      runEverySeconds,
      ...(settings.telegram ? { telegram: telegramAlert(settings) } : {}),
    }),
    mode: 0o755,
  };
  const schedule = byCron
    ? [
        cronLineStep(component, "the tripwire", {
          schedule: nearestCronSchedule(heartbeat.intervalSeconds),
          command: escapeForCron(`/bin/sh ${shellQuote(tripwire.script)}`),
        }),
      ]
    : serviceJobSteps(component, ctx, {
        job: "tripwire",
        argv: ["/bin/sh", tripwire.script],
        everySeconds: heartbeat.intervalSeconds,
        title: "pi gateway tripwire",
        what: ctx.settings.service?.manager === "launchd" ? "tripwire schedule (launchd)" : "tripwire (systemd)",
      });
  return { steps: [script, ...schedule] };
}
