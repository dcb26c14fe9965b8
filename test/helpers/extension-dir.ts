// The gateway extension laid out exactly as the installer writes it (rendered index.ts and the
// bundle next to it), in a temp dir. The bundle is built from the current sources once per test
// process (scripts/build-runtime.mjs, as npm run build does), so these tests run today's runtime,
// not whatever dist/ holds; pass `withBundle: false` to get an extension whose code is missing.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { BUNDLE_NAME, type ExtensionEntry, extensionEntry, planExtension } from "../../src/components/extension/render.ts";
import type { PlanSettings } from "../../src/core/plan.ts";
import { REPO_ROOT } from "./cli.ts";

let builtFromSources: string | undefined;

/** The extension's bundle built from src/runtime now (once per process), its source map next to it. */
export function bundleFromSources(): string {
  if (builtFromSources) return builtFromSources;
  const dir = mkdtempSync(join(tmpdir(), "gw-bundle-"));
  // outside the test run's own temp dir (the bench), nothing else would remove it
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, BUNDLE_NAME);
  const build = spawnSync(process.execPath, [join(REPO_ROOT, "scripts/build-runtime.mjs"), out, "--sourcemap"], { encoding: "utf8" });
  if (build.status !== 0) throw new Error(`building the extension's bundle failed: ${build.stderr}`);
  builtFromSources = out;
  return out;
}

export interface ExtensionOptions {
  prefix: string;
  redisUrl: string;
  secretsFile?: string;
  withBundle?: boolean;
  mode?: PlanSettings["mode"];
}

export function createExtensionDir(options: ExtensionOptions): string {
  return createExtension(options).extensionDir;
}

/** The extension's dir, and what setup rendered into its index.ts (which setup's self-test is given). */
export function createExtension(options: ExtensionOptions): { extensionDir: string; entry: ExtensionEntry } {
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
    if (step.built) {
      if (options.withBundle === false) continue;
      copyFileSync(bundleFromSources(), step.path);
      copyFileSync(`${bundleFromSources()}.map`, `${step.path}.map`);
    } else writeFileSync(step.path, step.contents, { mode: step.mode });
  }
  return { extensionDir, entry: extensionEntry(settings, options.secretsFile) };
}

export function randomPrefix(): string {
  return `t${Math.random().toString(36).slice(2, 10)}`;
}
