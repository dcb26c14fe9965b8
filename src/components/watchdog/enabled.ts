import type { PlanSettings } from "../../core/plan.ts";

/** Whether the heartbeat watchdogs (the extension's and the tripwire) run: not without a heartbeat source. */
export function watchdogOn(settings: PlanSettings): boolean {
  return Boolean(settings.heartbeat && settings.heartbeat.source !== "none");
}
