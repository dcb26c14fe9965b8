import type { Component } from "../../core/component.ts";
import type { UninstallStep } from "../../core/plan.ts";
import { crontabCheck } from "./check.ts";
import { crontabBlock, installedBlockName } from "./jobs.ts";

/** Uninstall's removal of an install's block (the default agent dir's names none: older manifests stay as they were). */
export function removeBlockStep(settings: Parameters<typeof installedBlockName>[0]): UninstallStep {
  return { kind: "remove-crontab-block", ...(settings.crontabBlock ? { block: installedBlockName(settings) } : {}) };
}

/**
 * gateway-setup's marked block in the user's crontab (the heartbeat with --heartbeat cron, the
 * tripwire where no service manager runs it). Those components plan its lines (see jobs.ts).
 */
export const crontab: Component = {
  id: "crontab",
  // the block may outlive the settings that wanted it: its removal and check look at the manifest
  applies: () => true,
  plan: () => ({ steps: [] }),
  gather: (steps, { system, settings }) => crontabBlock(steps, system, settings),
  removal: (manifest) => (manifest.crontab ? { stop: [removeBlockStep(manifest.settings)] } : {}),
  checks: [crontabCheck],
};
