import type { Component } from "../../core/component.ts";
import { crontabCheck } from "./check.ts";
import { crontabBlock } from "./jobs.ts";

/**
 * gateway-setup's marked block in the user's crontab (the heartbeat with --heartbeat cron, the
 * tripwire where no service manager runs it). Those components plan its lines (see jobs.ts).
 */
export const crontab: Component = {
  id: "crontab",
  // the block may outlive the settings that wanted it: its removal and check look at the manifest
  applies: () => true,
  plan: () => ({ steps: [] }),
  gather: (steps, { system }) => crontabBlock(steps, system),
  removal: (manifest) => (manifest.crontab ? { stop: [{ kind: "remove-crontab-block" }] } : {}),
  checks: [crontabCheck],
};
