import type { Component } from "../../core/component.ts";
import { redisCheck } from "./check.ts";
import { planRedis } from "./plan.ts";
import { planSecrets } from "./secrets.ts";

/** Redis, found or installed with consent, and the 0600 file that holds its password. */
export const redis: Component = {
  id: "redis",
  applies: () => true,
  plan: ({ answers, system, redisProbe, redis: target, settings }) => ({
    steps: [...planRedis(answers, system, redisProbe), ...(target.password ? [planSecrets(settings.stateDir, target.password)] : [])],
  }),
  removal: () => ({}),
  checks: [redisCheck],
};
