import type { Component } from "../../core/component.ts";
import { deadLetterCheck, listenerCheck, queueCheck, staleSessionsCheck } from "./check.ts";

/**
 * The queues in Redis: nothing to install (they exist once an event is pushed), checked for a
 * listener, depth, dead letters and stale sessions. `uninstall --purge-queues` deletes them (purge.ts).
 */
export const queues: Component = {
  id: "queues",
  applies: () => true,
  plan: () => ({ steps: [] }),
  removal: () => ({}),
  checks: [listenerCheck, queueCheck, deadLetterCheck, staleSessionsCheck],
};
