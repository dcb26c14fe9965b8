import { existsSync } from "node:fs";
import type { Component } from "../../core/component.ts";
import { tripwireCheck } from "./check.ts";
import { planWatchdog } from "./plan.ts";
import { tripwirePaths } from "./tripwire.ts";

/** The watchdog's second layer, the tripwire (the first runs inside the extension): a script on its own schedule. */
export const watchdog: Component = {
  id: "watchdog",
  applies: (settings) => Boolean(settings.heartbeat),
  plan: planWatchdog,
  removal: ({ settings }) => {
    const tripwire = tripwirePaths(settings.stateDir);
    return {
      cleanUp: [tripwire.alertedMarker, tripwire.log, tripwire.lastRun]
        .filter((path) => existsSync(path))
        .map((path) => ({ kind: "remove-file" as const, path })),
    };
  },
  checks: [tripwireCheck],
};
