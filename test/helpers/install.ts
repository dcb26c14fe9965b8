// Installs tier 1 into a temp HOME through the same plan/apply path the CLI uses (no verification).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { probeRedis } from "../../src/components/redis/probe.ts";
import { parseRedisUrl } from "../../src/components/redis/url.ts";
import { applyPlan } from "../../src/install/apply.ts";
import { buildPlan } from "../../src/plan/build-plan.ts";
import type { Plan } from "../../src/core/plan.ts";
import { detectSystem } from "../../src/platform/system.ts";
import type { Answers } from "../../src/core/answers.ts";

export interface Installed {
  home: string;
  env: Record<string, string> & { HOME: string };
  plan: Plan;
}

export async function installTier1(redisUrl: string, overrides: Partial<Answers> = {}, home = mkdtempSync(join(tmpdir(), "gw-installed-"))): Promise<Installed> {
  // no npm cache override: the install itself must keep npm's cache and logs out of HOME
  const env = { HOME: home, PATH: process.env.PATH ?? "/usr/bin:/bin" };
  const answers: Answers = {
    tier: 1,
    goal: "notifications",
    eventSources: "cron",
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
