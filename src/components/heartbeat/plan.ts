// The heartbeat's part of the Plan: HEARTBEAT.md, and what pushes a heartbeat event on schedule (a
// launchd or systemd job, a crontab line, or an Inngest function the user serves).
import { join } from "node:path";
import type { PlanContext } from "../../core/component.ts";
import type { FileStep, PlanStep } from "../../core/plan.ts";
import { sessionKeys } from "../../runtime/protocol/keys.ts";
import { cronLineStep } from "../crontab/jobs.ts";
import { secretsFilePath } from "../redis/secrets.ts";
import { INSTALL_HINTS, requiredBinary, serviceJobSteps } from "../service/jobs.ts";
import { watchdogOn } from "../watchdog/enabled.ts";
import { renderChecklist, renderInngestHeartbeat } from "./checklist.ts";
import { escapeForCron, heartbeatCommandLine, heartbeatScript } from "./command.ts";
import { CRON_SCHEDULERS, cronSchedule } from "./interval.ts";

const component = "heartbeat";

export function planHeartbeat(ctx: PlanContext): { steps: PlanStep[]; notes: string[] } {
  const { settings, system } = ctx;
  const heartbeat = settings.heartbeat!;
  const file = (path: string, contents: string, description: string, extra: Partial<FileStep> = {}): FileStep => ({
    kind: "file",
    component,
    description,
    path,
    contents,
    mode: 0o644,
    ...extra,
  });
  const steps: PlanStep[] = watchdogOn(settings)
    ? [file(heartbeat.checklistFile, renderChecklist(heartbeat.intervalSeconds), "heartbeat checklist (yours to edit)", { createOnly: true })]
    : [];
  const notes: string[] = [];
  const pushInput = () => ({
    redisCli: requiredBinary(system, "redis-cli", INSTALL_HINTS["redis-cli"]),
    redisUrl: settings.redisUrl,
    prefix: settings.prefix,
    sessionId: settings.sessionId,
    secretsFile: secretsFilePath(settings.stateDir),
  });
  switch (heartbeat.source) {
    case "cron":
      steps.push(
        cronLineStep(component, "the heartbeat", {
          schedule: cronSchedule(heartbeat.intervalSeconds),
          command: escapeForCron(heartbeatCommandLine({ ...pushInput(), source: "cron" })),
        }),
      );
      break;
    case "launchd":
    case "systemd":
      steps.push(
        ...serviceJobSteps(component, ctx, {
          job: "heartbeat",
          argv: ["/bin/sh", "-c", heartbeatScript({ ...pushInput(), source: heartbeat.source })],
          everySeconds: heartbeat.intervalSeconds,
          title: "pi gateway heartbeat",
          what: heartbeat.source === "launchd" ? "heartbeat (launchd StartInterval)" : "heartbeat push (systemd)",
        }),
      );
      break;
    case "inngest": {
      const inngestFile = join(settings.stateDir, "inngest", "gateway-heartbeat.ts");
      const keys = sessionKeys(settings.prefix, settings.sessionId);
      steps.push(
        file(
          inngestFile,
          renderInngestHeartbeat({
            cron: cronSchedule(heartbeat.intervalSeconds, CRON_SCHEDULERS.inngest),
            redisUrl: settings.redisUrl,
            eventsKey: keys.events,
            notifyKey: keys.notify,
          }),
          "Inngest heartbeat function",
        ),
      );
      notes.push(`Serve ${inngestFile} from your Inngest app (see the comment at its top); gateway-setup runs no Inngest server.`);
      break;
    }
  }
  return { steps, notes };
}
