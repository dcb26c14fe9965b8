import type { Component } from "../../core/component.ts";
import { crontabCheck } from "./check.ts";

/**
 * gateway-setup's marked block in the user's crontab (the heartbeat with --heartbeat cron, the
 * tripwire where no service manager runs it). The service component renders the block with its jobs.
 */
export const crontab: Component = {
  id: "crontab",
  // the block may outlive the settings that wanted it: its removal and check look at the manifest
  applies: () => true,
  plan: () => ({ steps: [] }),
  removal: (manifest) => (manifest.crontab ? { stop: [{ kind: "remove-crontab-block" }] } : {}),
  checks: [crontabCheck],
};
