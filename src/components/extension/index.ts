import type { Component } from "../../core/component.ts";
import { extensionDepsCheck, extensionFilesCheck } from "./check.ts";
import { planExtension } from "./render.ts";

/** The pi extension: index.ts, package.json, the runtime under lib/, and its own node_modules. */
export const extension: Component = {
  id: "extension",
  applies: () => true,
  plan: ({ settings, secretsFile, env }) => ({ steps: planExtension({ settings, secretsFile, npmCache: env.npm_config_cache }) }),
  removal: () => ({}),
  checks: [extensionFilesCheck, extensionDepsCheck],
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
