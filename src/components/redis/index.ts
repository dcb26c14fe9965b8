import type { Component } from "../../core/component.ts";
import { redisCheck } from "./check.ts";
import { planRedis } from "./plan.ts";
import { planSecrets } from "./secrets.ts";

/** Redis, found or installed with consent, and the 0600 file that holds its password (and, in tier 4, the bot token). */
export const redis: Component = {
  id: "redis",
  applies: () => true,
  plan: ({ answers, system, redisProbe, redis: target, settings }) => ({
    steps: [
      ...planRedis(answers, system, redisProbe),
      ...(target.password || answers.telegramToken
        ? [planSecrets(settings.stateDir, { redisPassword: target.password, telegramToken: answers.telegramToken })]
        : []),
    ],
  }),
  removal: () => ({}),
  checks: [redisCheck],
};
