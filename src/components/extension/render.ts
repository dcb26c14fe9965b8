// The pi extension: a rendered index.ts (the settings) and the extension's code, one JavaScript
// bundle built from src/runtime with ioredis at package build time (scripts/build-runtime.mjs),
// copied as it is. No npm install, no network: the package holds everything the extension runs.
import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { join } from "node:path";
import { GatewayError } from "../../core/errors.ts";
import type { FileStep, PlanSettings, PlanStep } from "../../core/plan.ts";
import { ownVersion, PACKAGE_ROOT } from "../../platform/package-root.ts";
import { renderTemplate } from "../../platform/templates.ts";
import { DEFAULT_GATEWAY_CONFIG, type GatewayConfig } from "../../runtime/extension/config.ts";
import { secretsFilePath } from "../redis/secrets.ts";

export const EXTENSION_COMPONENT = "extension";
/** .mjs: pi's loader (jiti) imports it natively instead of compiling it, and no package.json can make it CommonJS */
export const BUNDLE_NAME = "gateway-extension.mjs";
export const BUNDLE_DESCRIPTION = "the extension's code, ioredis included";

/** Where the package holds the built bundle. */
export function packagedBundlePath(packageRoot = PACKAGE_ROOT): string {
  return join(packageRoot, "dist", "runtime", BUNDLE_NAME);
}

export function installedBundlePath(extensionDir: string): string {
  return join(extensionDir, BUNDLE_NAME);
}

/** The bundle as the package ships it; a source checkout that was never built has none. */
export function packagedBundle(): string {
  const path = packagedBundlePath();
  try {
    return readFileSync(path, "utf8");
  } catch {
    throw new GatewayError(
      `gateway-setup's package has no ${path} (the pi extension's built code)`,
      "reinstall gateway-setup (npm install -g gateway-setup); in a source checkout: npm run build",
    );
  }
}

const HEADER_BYTES = 500;

/** The ioredis version a bundle was built with, from the header scripts/build-runtime.mjs writes. */
export function bundledIoredisVersion(bundle: string): string | undefined {
  return /^\/\/ .* ioredis (\d+\.\d+\.\d+\S*)/m.exec(bundle.slice(0, HEADER_BYTES))?.[1];
}

/** The ioredis version in the bundle at `path`, read from its header alone; undefined when it is missing or has none. */
export function bundleFileIoredisVersion(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return undefined;
  }
  try {
    const header = Buffer.alloc(HEADER_BYTES);
    return bundledIoredisVersion(header.subarray(0, readSync(fd, header, 0, HEADER_BYTES, 0)).toString("utf8"));
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** The ioredis version inside the installed extension's bundle (status shows it); undefined when the bundle is missing. */
export function ioredisInstalled(extensionDir: string): string | undefined {
  return bundleFileIoredisVersion(installedBundlePath(extensionDir));
}

/** index.ts: the settings it hands the bundle (its `gatewayConfig`, as data) and its text, rendered from them. */
export interface ExtensionEntry {
  config: GatewayConfig;
  contents: string;
}

export function extensionEntry(settings: PlanSettings, secretsFile: string | undefined): ExtensionEntry {
  // no heartbeat source (--heartbeat none): no heartbeat handling and no watchdog to raise false alarms
  const heartbeat =
    settings.heartbeat && settings.heartbeat.source !== "none"
      ? {
          intervalSeconds: settings.heartbeat.intervalSeconds,
          checklistFile: settings.heartbeat.checklistFile,
          lastHeartbeatFile: settings.heartbeat.lastHeartbeatFile,
          source: settings.heartbeat.source,
        }
      : undefined;
  // the keys in the order index.ts lists them, and only those it writes
  const config: GatewayConfig = {
    mode: settings.mode,
    sessionId: settings.sessionId,
    prefix: settings.prefix,
    redisUrl: settings.redisUrl,
    ...(secretsFile ? { secretsFile } : {}),
    dedupeTtlSeconds: DEFAULT_GATEWAY_CONFIG.dedupeTtlSeconds,
    maxBatch: DEFAULT_GATEWAY_CONFIG.maxBatch,
    pollIntervalMs: DEFAULT_GATEWAY_CONFIG.pollIntervalMs,
    ...(heartbeat ? { heartbeat } : {}),
  };
  return { config, contents: renderTemplate("extension/index.ts.hbs", { version: ownVersion(), bundle: BUNDLE_NAME, ...config }) };
}

/** The entry an install with these settings has: the Redis password, when there is one, in the state dir's secrets file. */
export function installedExtensionEntry(settings: PlanSettings): ExtensionEntry {
  return extensionEntry(settings, settings.redisPasswordSet ? secretsFilePath(settings.stateDir) : undefined);
}

export interface ExtensionPlanInput {
  settings: PlanSettings;
  secretsFile: string | undefined;
}

export function planExtension({ settings, secretsFile }: ExtensionPlanInput): PlanStep[] {
  const dir = settings.extensionDir;
  const file = (path: string, contents: string, description: string): FileStep => ({
    kind: "file",
    component: EXTENSION_COMPONENT,
    description,
    path,
    contents,
    mode: 0o644,
  });
  return [
    file(join(dir, "index.ts"), extensionEntry(settings, secretsFile).contents, "pi extension entry (settings)"),
    { ...file(installedBundlePath(dir), packagedBundle(), BUNDLE_DESCRIPTION), built: true },
  ];
}
