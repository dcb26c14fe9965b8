// The gateway extension laid out exactly as the installer writes it (rendered index.ts, runtime
// copied under lib/), in a temp dir. node_modules links to the repo's, so no npm install is needed;
// pass `withNodeModules: false` to get an extension whose ioredis is missing.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { planExtension } from "../../src/components/extension/render.ts";
import type { PlanSettings } from "../../src/core/plan.ts";
import { REPO_ROOT } from "./cli.ts";

export function createExtensionDir(options: {
  prefix: string;
  redisUrl: string;
  secretsFile?: string;
  withNodeModules?: boolean;
  mode?: PlanSettings["mode"];
}): string {
  const root = mkdtempSync(join(tmpdir(), "gw-ext-"));
  const extensionDir = join(root, "extensions", "gateway");
  const settings: PlanSettings = {
    tier: 1,
    mode: options.mode ?? "single",
    sessionId: options.mode && options.mode !== "single" ? "gateway" : "main",
    prefix: options.prefix,
    redisUrl: options.redisUrl,
    redisPasswordSet: Boolean(options.secretsFile),
    scope: "global",
    agentDir: root,
    extensionDir,
    stateDir: join(root, "gateway"),
    manifestPath: join(root, "gateway", "manifest.json"),
  };
  for (const step of planExtension({ settings, secretsFile: options.secretsFile })) {
    if (step.kind !== "file") continue;
    mkdirSync(dirname(step.path), { recursive: true });
    writeFileSync(step.path, step.contents, { mode: step.mode });
  }
  if (options.withNodeModules !== false) symlinkSync(join(REPO_ROOT, "node_modules"), join(extensionDir, "node_modules"));
  return extensionDir;
}

export function randomPrefix(): string {
  return `t${Math.random().toString(36).slice(2, 10)}`;
}
