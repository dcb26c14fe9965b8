// Installs tier 1 into a temp HOME through the same plan/apply path the CLI uses (no verification).
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { probeRedis } from "../../src/components/redis/probe.ts";
import { parseRedisUrl } from "../../src/components/redis/url.ts";
import type { Answers } from "../../src/core/answers.ts";
import type { Plan } from "../../src/core/plan.ts";
import { applyPlan } from "../../src/install/apply.ts";
import { buildPlan } from "../../src/plan/build-plan.ts";
import { detectSystem } from "../../src/platform/system.ts";

export interface Installed {
  home: string;
  env: Record<string, string> & { HOME: string };
  plan: Plan;
}

export async function installTier1(
  redisUrl: string,
  overrides: Partial<Answers> = {},
  home = mkdtempSync(join(tmpdir(), "gw-installed-")),
): Promise<Installed> {
  // no npm cache override: the install itself must keep npm's cache and logs out of HOME
  const env = { HOME: home, PATH: process.env.PATH ?? "/usr/bin:/bin" };
  const answers: Answers = {
    tier: 1,
    goal: "notifications",
    sessions: "one",
    redisUrl,
    prefix: `t${Math.random().toString(36).slice(2, 8)}`,
    scope: "global",
    projectDir: home,
    installRedis: false,
    ...overrides,
  };
  const redis = await probeRedis(parseRedisUrl(redisUrl, answers.redisPassword));
  const plan = buildPlan({ answers, env, system: detectSystem(env), redis });
  await applyPlan(plan, { env, invocation: "test", waitForRedis: async () => {} });
  return { home, env, plan };
}

/**
 * A tier-1 install made once (its npm install takes seconds) and handed to every test as new:
 * build it in beforeAll, call fresh() at the start of each test.
 *
 * A copy of it under another HOME would not do: the manifest records absolute paths under the
 * HOME it was installed in (agent, extension and state dirs, its own path, every file it wrote),
 * which would still point at the original. So it stays at one path, and fresh() puts that HOME
 * back as the install left it (`cp -a` from a pristine copy: contents, modes, symlinks and times)
 * and deletes the Redis keys under its prefix, where a new install (with a new random prefix)
 * would have found none. Tests that share one must run one after the other, as a file's tests do
 * unless marked concurrent.
 */
export async function installTemplate(redisUrl: string): Promise<{ fresh(): Promise<Installed> }> {
  const root = mkdtempSync(join(tmpdir(), "gw-template-"));
  const home = join(root, "home");
  const pristine = join(root, "pristine");
  mkdirSync(home);
  const installed = await installTier1(redisUrl, {}, home);
  copyTree(home, pristine);
  return {
    async fresh() {
      rmSync(home, { recursive: true, force: true });
      copyTree(pristine, home);
      await deleteKeys(redisUrl, `${installed.plan.settings.prefix}:*`);
      return { home, env: { ...installed.env }, plan: structuredClone(installed.plan) };
    },
  };
}

function copyTree(from: string, to: string): void {
  const copy = spawnSync("cp", ["-a", from, to], { encoding: "utf8" });
  if (copy.status !== 0) throw new Error(`cp -a ${from} ${to} failed: ${copy.stderr}`);
}

async function deleteKeys(redisUrl: string, pattern: string): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}
