// The pi extension: a rendered index.ts and package.json, the runtime sources copied verbatim
// from src/protocol and src/extension (type-checked and tested here), and npm install.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { DEFAULT_GATEWAY_CONFIG } from "../../extension/config.ts";
import { ownPackageJson, ownVersion, PACKAGE_ROOT } from "../../platform/package-root.ts";
import { renderTemplate } from "../../platform/templates.ts";
import type { FileStep, PlanStep, PlanSettings } from "../../plan/plan.ts";

export const EXTENSION_COMPONENT = "extension";
export const NPM_INSTALL_ARGV = ["npm", "install", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"];
const RUNTIME_FOLDERS = ["protocol", "extension"] as const;

export function runtimeSourceFiles(): { relativePath: string; contents: string }[] {
  return RUNTIME_FOLDERS.flatMap((folder) => {
    const dir = join(PACKAGE_ROOT, "src", folder);
    return readdirSync(dir)
      .filter((name) => name.endsWith(".ts") && !name.endsWith(".d.ts"))
      .sort()
      .map((name) => ({ relativePath: join("lib", folder, name), contents: readFileSync(join(dir, name), "utf8") }));
  });
}

export function renderIndex(settings: PlanSettings, secretsFile: string | undefined): string {
  const heartbeat = settings.heartbeat
    ? { intervalSeconds: settings.heartbeat.intervalSeconds, checklistFile: settings.heartbeat.checklistFile, lastHeartbeatFile: settings.heartbeat.lastHeartbeatFile }
    : undefined;
  return renderTemplate("extension/index.ts.hbs", {
    version: ownVersion(),
    mode: settings.mode,
    heartbeat,
    sessionId: settings.sessionId,
    prefix: settings.prefix,
    redisUrl: settings.redisUrl,
    secretsFile,
    dedupeTtlSeconds: DEFAULT_GATEWAY_CONFIG.dedupeTtlSeconds,
    maxBatch: DEFAULT_GATEWAY_CONFIG.maxBatch,
    pollIntervalMs: DEFAULT_GATEWAY_CONFIG.pollIntervalMs,
  });
}

export function renderPackageJson(): string {
  return renderTemplate("extension/package.json.hbs", {
    version: ownVersion(),
    ioredisVersion: ownPackageJson().dependencies.ioredis,
  });
}

export interface ExtensionPlanInput {
  settings: PlanSettings;
  secretsFile: string | undefined;
}

export function planExtension({ settings, secretsFile }: ExtensionPlanInput): PlanStep[] {
  const dir = settings.extensionDir;
  const file = (relativePath: string, contents: string, description: string): FileStep => ({
    kind: "file",
    component: EXTENSION_COMPONENT,
    description,
    path: join(dir, relativePath),
    contents,
    mode: 0o644,
  });
  const packageJson = renderPackageJson();
  const steps: PlanStep[] = [
    file("index.ts", renderIndex(settings, secretsFile), "pi extension entry (settings)"),
    file("package.json", packageJson, "extension dependencies (ioredis)"),
    ...runtimeSourceFiles().map((source) => file(source.relativePath, source.contents, "extension runtime")),
  ];
  steps.push({
    kind: "command",
    component: EXTENSION_COMPONENT,
    description: "install the extension's dependencies",
    argv: NPM_INSTALL_ARGV,
    cwd: dir,
    creates: [join(dir, "node_modules"), join(dir, "package-lock.json")],
    timeoutMs: 5 * 60_000,
    ...(npmInstallSatisfied(dir, packageJson) ? { satisfied: true } : {}),
  });
  return steps;
}

/** npm install is not needed when the same package.json is installed and ioredis resolves. */
function npmInstallSatisfied(dir: string, packageJson: string): boolean {
  const current = join(dir, "package.json");
  return existsSync(current) && readFileSync(current, "utf8") === packageJson && ioredisInstalled(dir) !== undefined;
}

/** The ioredis version that resolves from the extension's folder the way pi resolves it, if any. */
export function ioredisInstalled(extensionDir: string): string | undefined {
  try {
    const fromExtension = createRequire(join(extensionDir, "index.ts"));
    fromExtension.resolve("ioredis");
    const pkg = fromExtension.resolve("ioredis/package.json");
    if (!pkg.startsWith(join(extensionDir, "node_modules") + "/")) return undefined;
    return (JSON.parse(readFileSync(pkg, "utf8")) as { version: string }).version;
  } catch {
    return undefined;
  }
}
