// What is installed now, as answers. A re-run starts from them: the wizard offers them as its
// defaults, and `gateway-setup --yes` keeps them where no flag says otherwise, instead of going
// back to the factory defaults (another Redis, prefix or tier) behind the user's back. The
// manifest records them at install time; a manifest an older version wrote has only its
// settings, and they are read back from those.
import { dirname } from "node:path";
import { type Answers, goalFor, type InstalledAnswers } from "../core/answers.ts";
import type { Manifest } from "../core/manifest.ts";
import type { PlanSettings } from "../core/plan.ts";
import { formatInterval } from "./heartbeat/interval.ts";

export function installedAnswers(manifest: Pick<Manifest, "settings" | "answers">): InstalledAnswers {
  return manifest.answers ?? answersFromSettings(manifest.settings);
}

/** The answers to record: the ones given, with every value the plan settled (defaults it chose, the password-free URL). */
export function answersToRecord(answers: Answers, settings: PlanSettings): InstalledAnswers {
  return {
    ...answersFromSettings(settings),
    ...(answers.scope === "project" ? { projectDir: answers.projectDir } : {}),
  };
}

function answersFromSettings(settings: PlanSettings): InstalledAnswers {
  const answers: InstalledAnswers = {
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
  if (settings.telegram) {
    answers.telegramAllow = settings.telegram.allow;
    answers.telegramPairing = settings.telegram.pairing;
    answers.telegramApiRoot = settings.telegram.apiRoot;
    if (settings.telegram.notify) answers.telegramNotify = settings.telegram.notify;
  }
  if (settings.daemon?.model) answers.model = settings.daemon.model;
  return answers;
}
