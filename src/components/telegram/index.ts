import type { Component } from "../../core/component.ts";
import { allowlistCheck, telegramCheck } from "./check.ts";

/**
 * Tier 4's bot: its token is in the secrets file (the redis component writes that file) and its
 * settings in the daemon's config; this part is how doctor checks it.
 */
export const telegram: Component = {
  id: "telegram",
  applies: (settings) => Boolean(settings.telegram),
  plan: () => ({ steps: [] }),
  removal: () => ({}),
  checks: [telegramCheck, allowlistCheck],
};
