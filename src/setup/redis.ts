// Setup's Redis steps: the target (URL and password, from the answers, the environment or an
// earlier install), a probe, and, where a person can answer, a password or consent to install Redis.
import { installCanServe, redisInstallRecipe } from "../components/redis/install-recipe.ts";
import { planRedis } from "../components/redis/plan.ts";
import { probeRedis } from "../components/redis/probe.ts";
import { secretsFilePath } from "../components/redis/secrets.ts";
import { parseRedisUrl } from "../components/redis/url.ts";
import type { Answers } from "../core/answers.ts";
import { PlanError } from "../core/errors.ts";
import type { RedisProbe, RedisTarget } from "../core/redis.ts";
import type { SystemInfo } from "../core/system.ts";
import { InstallCancelledError } from "../install/apply.ts";
import { pause } from "../platform/abort.ts";
import type { Env } from "../platform/exec.ts";
import { gatewayStateDir } from "../platform/paths.ts";
import { installedRedisPassword } from "../runtime/consumer/connection.ts";
import type { SetupContext } from "./context.ts";

/** The Redis the answers name, with its password: given, from the environment, or stored by an earlier install. Warns about a password on the command line. */
export function redisTargetFor(ctx: Pick<SetupContext, "env" | "flags" | "output">, answers: Answers): RedisTarget {
  const password = answers.redisPassword ?? ctx.env.GATEWAY_REDIS_PASSWORD ?? ctx.env.REDISCLI_AUTH ?? storedPassword(ctx.env);
  if (ctx.flags.redisUrl && parseRedisUrl(ctx.flags.redisUrl).password) {
    ctx.output.warn("The password in --redis-url is visible to other users in the process list; prefer GATEWAY_REDIS_PASSWORD.");
  }
  return parseRedisUrl(answers.redisUrl, password);
}

/** The password an earlier install stored, so a re-run does not need it in the environment again. */
function storedPassword(env: Env): string | undefined {
  return installedRedisPassword({}, secretsFilePath(gatewayStateDir(env)));
}

const isAuthProblem = (probe: RedisProbe) => probe.status === "auth-required" || probe.status === "auth-failed";

/** Probes Redis and, where a person can answer, asks for a password or consent to install it. */
export async function settleRedis(ctx: SetupContext, answers: Answers, target: RedisTarget): Promise<{ redis: RedisProbe; settled: Answers }> {
  const spinner = ctx.output.spinner(`Checking Redis at ${target.url}`);
  let redis = await probeRedis(target, 2000, ctx.signal);
  const answered = (probe: RedisProbe) => (probe.status === "ok" ? `Redis answered at ${target.url} (${probe.latencyMs} ms)` : "");
  // a problem nobody here can fix is said once, by the error that follows
  if (redis.status === "ok") spinner.stop(answered(redis));
  else spinner.clear();
  let settled: Answers = { ...answers, ...(target.password ? { redisPassword: target.password } : {}) };

  const prompter = ctx.prompter;
  for (let attempt = 0; prompter && attempt < 3 && isAuthProblem(redis); attempt++) {
    if ("message" in redis) ctx.output.warn(redis.message);
    const password = await prompter.password({
      id: "redisPassword",
      message: `Password for Redis at ${target.url}`,
      validate: (value) => (value ? undefined : "a password is required"),
    });
    settled = { ...settled, redisPassword: password };
    redis = await probeRedis(parseRedisUrl(settled.redisUrl, password), 2000, ctx.signal);
    if (redis.status === "ok") ctx.output.success(answered(redis));
  }

  const recipe = redisInstallRecipe(ctx.system);
  if (redis.status === "unreachable" && installCanServe(target) && recipe && !settled.installRedis) {
    const commands = recipe.commands.map((argv) => argv.join(" ")).join("\n");
    if (prompter) {
      prompter.note(`${redis.message}\n\n${commands}`, `gateway-setup can install and start Redis with ${recipe.manager}`);
      settled.installRedis = await prompter.confirm({ id: "installRedis", message: "Run these commands now?", initialValue: true });
    } else if (ctx.flags.yes && ctx.flags.installRedis !== false) {
      ctx.output.info(`${redis.message} Redis will be installed with ${recipe.manager} (--yes; --no-install-redis prevents it).`);
      settled.installRedis = true;
    }
  }
  return { redis, settled };
}

/**
 * A dry run plans without a Redis that answers: where a real run would stop (nothing answers, or
 * it wants a password), the plan is made as if Redis answered, and `unchecked` says what was not.
 */
export function redisForDryRun(system: SystemInfo, answers: Answers, redis: RedisProbe): { redis: RedisProbe; unchecked?: string } {
  if (redis.status === "ok") return { redis };
  try {
    planRedis(answers, system, redis);
    return { redis };
  } catch (error) {
    if (!(error instanceof PlanError)) throw error;
    const fix = error.fix ? ` A real run stops here; ${error.fix}.` : " A real run stops here.";
    return {
      redis: { status: "ok", latencyMs: 0 },
      unchecked: `Not checked (dry run): Redis at ${parseRedisUrl(answers.redisUrl).url}. ${error.message.replace(/\.?$/, ".")}${fix}`,
    };
  }
}

export async function waitForRedis(target: RedisTarget, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: RedisProbe;
  do {
    last = await probeRedis(target, 1000, signal);
    if (last.status === "ok") return;
    if (signal?.aborted) throw new InstallCancelledError();
    await pause(300, signal).catch(() => {});
  } while (Date.now() < deadline && !signal?.aborted);
  if (signal?.aborted) throw new InstallCancelledError();
  throw new Error(last.message);
}
