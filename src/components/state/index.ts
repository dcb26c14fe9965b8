import type { Component } from "../../core/component.ts";
import { stateModesCheck } from "./check.ts";

/**
 * The gateway's state dir (manifest, secrets, logs, backups): every install has one, and nothing
 * to plan for it beyond what the other parts write there. Doctor checks it stays private.
 */
export const state: Component = {
  id: "state",
  applies: () => true,
  plan: () => ({ steps: [] }),
  removal: () => ({}),
  checks: [stateModesCheck],
};
