// Answers + what the machine looks like -> the Plan: the settings, then every component of the
// registry that applies, in order, then the take-back of what the install this one replaces left.
// Pure: reads files only to decide whether a step is still needed, never writes.
import { COMPONENTS } from "../components/index.ts";
import { secretsFilePath } from "../components/redis/secrets.ts";
import { parseRedisUrl } from "../components/redis/url.ts";
import type { Answers } from "../core/answers.ts";
import type { PlanContext } from "../core/component.ts";
import { PlanError } from "../core/errors.ts";
import type { Plan } from "../core/plan.ts";
import type { RedisProbe } from "../core/redis.ts";
import type { SystemInfo } from "../core/system.ts";
import { readManifest } from "../install/manifest.ts";
import { planTakeBack } from "../install/take-back.ts";
import type { Env } from "../platform/exec.ts";
import { ownVersion } from "../platform/package-root.ts";
import { TIER1_SESSION_ID } from "../runtime/extension/config.ts";
import { defaultSessionKey } from "../runtime/protocol/keys.ts";
import { planSettings } from "./settings.ts";

/** tier 1: one pi session consumes the `main` queue */
export { TIER1_SESSION_ID };

export interface PlanInput {
  answers: Answers;
  env: Env;
  system: SystemInfo;
  redis: RedisProbe;
}

export { PlanError };

export function buildPlan({ answers, env, system, redis: redisProbe }: PlanInput): Plan {
  const redis = parseRedisUrl(answers.redisUrl, answers.redisPassword);
  const settings = planSettings(answers, redis, system, env);
  const ctx: PlanContext = {
    answers,
    settings,
    system,
    env,
    redis,
    redisProbe,
    ...(redis.password ? { secretsFile: secretsFilePath(settings.stateDir) } : {}),
  };
  const applicable = COMPONENTS.filter((component) => component.applies(settings));
  const parts = applicable.map((component) => component.plan(ctx));
  let steps = parts.flatMap((part) => part.steps);
  for (const component of applicable) {
    if (!component.gather) continue;
    const gathered = component.gather(steps, ctx);
    steps = gathered.steps;
    parts.push({ steps: [], notes: gathered.notes });
  }
  // the install this one replaces: what it left where this plan puts nothing is taken back (a damaged manifest throws ManifestError)
  const previous = readManifest(settings.manifestPath);
  if (previous) steps.push(...planTakeBack(previous, steps));
  return {
    tool: "gateway-setup",
    version: ownVersion(),
    settings,
    steps,
    ...(previous ? { replaces: { version: previous.version, extensionDir: previous.settings.extensionDir } } : {}),
    notes: parts.flatMap((part) => part.notes ?? []),
    verification: [
      `PING Redis at ${settings.redisUrl}`,
      `load the installed extension as pi does and deliver a test event through Redis; then route events with no live target to ` +
        `"${settings.sessionId}" (${defaultSessionKey(settings.prefix)})`,
      `if a pi session is live on "${settings.sessionId}", deliver a gateway.smoke event to it`,
    ],
  };
}
