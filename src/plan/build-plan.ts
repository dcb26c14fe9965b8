// Answers + what the machine looks like -> the Plan. Pure: reads files only to decide whether a
// step is still needed, never writes.
import { TIER1_SESSION_ID } from "../runtime/extension/config.ts";
import { join } from "node:path";
import { planExtension } from "../components/extension/render.ts";
import { installCanServe, manualRedisHint, redisInstallRecipe } from "../components/redis/install-recipe.ts";
import type { RedisProbe } from "../core/redis.ts";
import { planSecrets, secretsFilePath } from "../components/redis/secrets.ts";
import { isLocalHost, parseRedisUrl } from "../components/redis/url.ts";
import type { Env } from "../platform/exec.ts";
import { ownVersion } from "../platform/package-root.ts";
import { agentDir, extensionDir, gatewayStateDir, MANIFEST_FILE_NAME } from "../platform/paths.ts";
import type { SystemInfo } from "../platform/system.ts";
import { assertTierAvailable, type Answers } from "../core/answers.ts";
import type { Plan, PlanSettings, PlanStep } from "../core/plan.ts";
import { PlanError } from "../core/errors.ts";
import { CENTRAL_SESSION } from "../runtime/protocol/route.ts";
import { defaultSessionKey } from "../runtime/protocol/keys.ts";
import { planTier2, tier2Settings } from "./tier2.ts";
import { readManifest } from "../install/manifest.ts";
import { planTakeBack } from "../install/uninstall.ts";

/** tier 1: one pi session consumes the `main` queue */
export { TIER1_SESSION_ID };

export interface PlanInput {
  answers: Answers;
  env: Env;
  system: SystemInfo;
  redis: RedisProbe;
}

export { PlanError };

export function buildPlan({ answers, env, system, redis }: PlanInput): Plan {
  assertTierAvailable(answers.tier);
  const target = parseRedisUrl(answers.redisUrl, answers.redisPassword);
  const stateDir = gatewayStateDir(env);
  const central = answers.tier >= 2;
  const settings: PlanSettings = {
    tier: answers.tier,
    mode: answers.tier >= 3 ? "multi" : central ? "central" : "single",
    sessionId: central ? CENTRAL_SESSION : TIER1_SESSION_ID,
    prefix: answers.prefix,
    redisUrl: target.url,
    redisPasswordSet: Boolean(target.password),
    scope: answers.scope,
    agentDir: agentDir(env),
    extensionDir: extensionDir(answers.scope, answers.projectDir, env),
    stateDir,
    manifestPath: join(stateDir, MANIFEST_FILE_NAME),
    ...(central ? tier2Settings(answers, system, env, agentDir(env), stateDir) : {}),
  };
  const steps: PlanStep[] = [...planRedis(answers, system, redis)];
  if (target.password) steps.push(planSecrets(stateDir, target.password));
  steps.push(...planExtension({ settings, secretsFile: target.password ? secretsFilePath(stateDir) : undefined, npmCache: env.npm_config_cache }));
  const tier2 = central ? planTier2(settings, system, env) : { steps: [], notes: [] };
  steps.push(...tier2.steps);
  // the install this one replaces: what it left where this plan puts nothing is taken back (a damaged manifest throws ManifestError)
  const previous = readManifest(settings.manifestPath);
  if (previous) steps.push(...planTakeBack(previous, steps));
  return {
    tool: "gateway-setup",
    version: ownVersion(),
    settings,
    steps,
    ...(previous ? { replaces: { version: previous.version, extensionDir: previous.settings.extensionDir } } : {}),
    notes: tier2.notes,
    verification: [
      `PING Redis at ${settings.redisUrl}`,
      `load the installed extension as pi does and deliver a test event through Redis; then route events with no live target to "${settings.sessionId}" (${defaultSessionKey(settings.prefix)})`,
      `if a pi session is live on "${settings.sessionId}", deliver a gateway.smoke event to it`,
    ],
  };
}

function planRedis(answers: Answers, system: SystemInfo, redis: RedisProbe): PlanStep[] {
  if (redis.status === "ok") return [];
  const target = parseRedisUrl(answers.redisUrl);
  if (redis.status === "auth-required" || redis.status === "auth-failed") {
    throw new PlanError(redis.message, `set GATEWAY_REDIS_PASSWORD to the Redis password, then run gateway-setup again`);
  }
  if (redis.status !== "unreachable") throw new PlanError(redis.message);
  const recipe = redisInstallRecipe(system);
  if (!installCanServe(target) || !recipe) {
    const fix = !isLocalHost(target)
      ? `check that Redis runs at ${target.url}`
      : recipe
        ? `start the Redis you use at ${target.url}, or install one (${manualRedisHint(system)}) and run gateway-setup again with --redis-url redis://127.0.0.1:6379, where a package-manager Redis listens`
        : "install and start Redis, then run gateway-setup again";
    throw new PlanError(redis.message, fix);
  }
  if (!answers.installRedis) {
    throw new PlanError(
      redis.message,
      `${recipe.commands.map((argv) => argv.join(" ")).join(" && ")}  (or re-run with --install-redis to let gateway-setup do it)`,
    );
  }
  return [
    ...recipe.commands.map((argv) => ({
      kind: "command" as const,
      component: "redis",
      description: `install/start Redis with ${recipe.manager}`,
      argv,
      interactive: true,
      timeoutMs: 15 * 60_000,
    })),
    { kind: "redis-ready" as const, component: "redis", description: `wait until Redis answers at ${target.url}`, timeoutMs: 20_000 },
  ];
}
