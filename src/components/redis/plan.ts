// Redis itself: found, or installed and started with the user's consent through the platform's
// package manager, then waited for. A Redis this machine cannot serve is a PlanError with the fix.
import type { Answers } from "../../core/answers.ts";
import { PlanError } from "../../core/errors.ts";
import type { PlanStep } from "../../core/plan.ts";
import type { RedisProbe } from "../../core/redis.ts";
import type { SystemInfo } from "../../core/system.ts";
import { answeredWronglyFix } from "./check.ts";
import { installCanServe, manualRedisHint, redisInstallRecipe } from "./install-recipe.ts";
import { isLocalHost, parseRedisUrl } from "./url.ts";

export function planRedis(answers: Answers, system: SystemInfo, redis: RedisProbe): PlanStep[] {
  if (redis.status === "ok") return [];
  const target = parseRedisUrl(answers.redisUrl);
  if (redis.status === "auth-required" || redis.status === "auth-failed") {
    throw new PlanError(redis.message, `set GATEWAY_REDIS_PASSWORD to the Redis password, then run gateway-setup again`);
  }
  if (redis.status !== "unreachable") throw new PlanError(redis.message, answeredWronglyFix(redis.message, target));
  const recipe = redisInstallRecipe(system);
  if (!installCanServe(target) || !recipe) {
    const fix = !isLocalHost(target)
      ? `check that Redis runs at ${target.url}`
      : recipe
        ? `start the Redis you use at ${target.url}, or install one (${manualRedisHint(system)}) and run gateway-setup again with --redis-url ` +
          `redis://127.0.0.1:6379, where a package-manager Redis listens`
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
