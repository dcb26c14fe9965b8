import type { Component } from "../../core/component.ts";
import { extensionBundleCheck, extensionFilesCheck } from "./check.ts";
import { planExtension } from "./render.ts";

/** The pi extension: index.ts (its settings) and gateway-extension.mjs (its code, ioredis included). */
export const extension: Component = {
  id: "extension",
  applies: () => true,
  plan: ({ settings, secretsFile }) => ({ steps: planExtension({ settings, secretsFile }) }),
  removal: () => ({}),
  checks: [extensionFilesCheck, extensionBundleCheck],
  consumer: () => ({ howToStart: "start pi to receive events", intro: [], reachIt: "Start pi (or /reload a running one); then any script can reach it:" }),
  summary: (settings) =>
    settings.mode === "multi"
      ? [
          "Every other pi you start joins as a satellite with its own id (GATEWAY_SESSION_ID in its shell); a job it starts reports back to it and to " +
            "the central session with:",
          `  npx gateway-setup push job.done --payload '{"ok":true}'`,
          "",
        ]
      : [],
};
