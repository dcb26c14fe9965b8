// What is installed now, as answers. A re-run starts from them: the wizard offers them as its
// defaults, and `gateway-setup --yes` keeps them where no flag says otherwise, instead of going
// back to the factory defaults (another Redis, prefix or tier) behind the user's back.
import { dirname } from "node:path";
import { formatInterval } from "./heartbeat/interval.ts";
import type { PlanSettings } from "../core/plan.ts";
import { goalFor, type Answers } from "../core/answers.ts";

export function installedAnswers(settings: PlanSettings): Partial<Answers> {
  const answers: Partial<Answers> = {
    tier: settings.tier,
    goal: goalFor(settings.tier),
    sessions: settings.tier === 3 ? "several" : "one",
    redisUrl: settings.redisUrl,
    prefix: settings.prefix,
    scope: settings.scope,
  };
  // <project>/.pi/extensions/gateway
  if (settings.scope === "project") answers.projectDir = dirname(dirname(dirname(settings.extensionDir)));
  if (settings.heartbeat) {
    answers.heartbeat = settings.heartbeat.source;
    answers.heartbeatEvery = formatInterval(settings.heartbeat.intervalSeconds);
    answers.heartbeatFile = settings.heartbeat.checklistFile;
  }
  if (settings.service) {
    answers.service = settings.service.manager;
    answers.serviceLabel = settings.service.name;
  }
  return answers;
}
