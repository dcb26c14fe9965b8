// One installable part (Redis, the extension, the central session, the heartbeat, ...): what it
// installs, what uninstall does for it beyond removing what the manifest lists, and how doctor
// checks it, side by side. components/index.ts is the ordered registry, the only list of parts:
// building a plan, uninstalling and doctoring are loops over it.
import type { Answers } from "./answers.ts";
import type { DoctorCheck } from "./check.ts";
import type { Manifest } from "./manifest.ts";
import type { PlanSettings, PlanStep, UninstallStep } from "./plan.ts";
import type { RedisProbe, RedisTarget } from "./redis.ts";
import type { SystemInfo } from "./system.ts";

/** What a component plans from: decided once, before any component plans. */
export interface PlanContext {
  answers: Answers;
  settings: PlanSettings;
  system: SystemInfo;
  env: Record<string, string | undefined>;
  /** the Redis target, parsed once from the answers (its password only in memory) */
  redis: RedisTarget;
  /** what PING found there */
  redisProbe: RedisProbe;
  /** the 0600 secrets file the extension and the jobs read the Redis password from, when there is one */
  secretsFile?: string;
}

export interface ComponentPlan {
  steps: PlanStep[];
  /** what the user still has to do, shown after the install */
  notes?: string[];
}

/** What uninstall does for a component beyond taking back the files and commands the manifest lists. */
export interface ComponentRemoval {
  /** before the files go: stop what runs */
  stop?: UninstallStep[];
  /** after the files went: what the running system wrote for itself, and telling the service manager */
  cleanUp?: UninstallStep[];
}

/** How setup's closing words name the part that consumes the install's queue. */
export interface ConsumerNote {
  /** when no session is live on the queue yet: how one comes */
  howToStart: string;
  /** the summary's first lines about it (the plan's notes follow) */
  intro: string[];
  /** the line before the example push */
  reachIt: string;
}

export interface Component {
  /** the `component` of its steps, manifest entries and findings */
  id: string;
  /** whether an install with these settings has this part (its checks run only then) */
  applies(settings: PlanSettings): boolean;
  plan(ctx: PlanContext): ComponentPlan;
  /**
   * After every component planned: a part the others add to (the crontab block, whose lines the
   * heartbeat and the watchdog plan) gathers their steps into its own.
   */
  gather?(steps: PlanStep[], ctx: PlanContext): ComponentPlan;
  removal(manifest: Manifest): ComponentRemoval;
  checks: DoctorCheck[];
  /** the part that consumes the queue names itself here; the last applicable one in the registry is the consumer */
  consumer?(settings: PlanSettings): ConsumerNote;
  /** the summary's closing lines about this part (after the example push) */
  summary?(settings: PlanSettings): string[];
}
