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
};
