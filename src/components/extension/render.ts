// The pi extension: a rendered index.ts and package.json, the runtime sources copied verbatim
// from src/runtime (type-checked and tested here) under lib/, and npm install.
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { FileStep, PlanSettings, PlanStep } from "../../core/plan.ts";
import { describeFailure, type Env, run } from "../../platform/exec.ts";
import { ownPackageJson, ownVersion, PACKAGE_ROOT } from "../../platform/package-root.ts";
import { renderTemplate } from "../../platform/templates.ts";
import { DEFAULT_GATEWAY_CONFIG } from "../../runtime/extension/config.ts";

export const EXTENSION_COMPONENT = "extension";
export const NPM_INSTALL_ARGV = ["npm", "install", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"];

/** npm's cache and logs go to a scratch dir in the state dir, removed after the install, so ~/.npm stays as it was. */
export function npmScratchDir(stateDir: string): string {
  return join(stateDir, "npm-cache.tmp");
}

export function npmInstallArgv(scratchDir: string): string[] {
  return [...NPM_INSTALL_ARGV, `--cache=${scratchDir}`, `--logs-dir=${join(scratchDir, "_logs")}`, "--update-notifier=false"];
}

/** A cache the user chose with npm_config_cache is theirs to fill; otherwise the scratch dir. */
function npmInstallCommand(stateDir: string, userCache: string | undefined): { argv: string[]; scratch: string[] } {
  if (userCache) return { argv: [...NPM_INSTALL_ARGV, "--update-notifier=false"], scratch: [] };
  const scratch = npmScratchDir(stateDir);
  return { argv: npmInstallArgv(scratch), scratch: [scratch] };
}
/** what src/runtime holds, each copied to lib/<folder> */
const RUNTIME_FOLDERS = ["protocol", "consumer", "extension"] as const;

export function runtimeSourceFiles(): { relativePath: string; contents: string }[] {
  return RUNTIME_FOLDERS.flatMap((folder) => {
    const dir = join(PACKAGE_ROOT, "src", "runtime", folder);
    return readdirSync(dir)
      .filter((name) => name.endsWith(".ts") && !name.endsWith(".d.ts"))
      .sort()
      .map((name) => ({ relativePath: join("lib", folder, name), contents: readFileSync(join(dir, name), "utf8") }));
  });
}

export function renderIndex(settings: PlanSettings, secretsFile: string | undefined): string {
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

/** npm install outside a Plan (doctor --fix), with the same scratch cache. */
export async function runNpmInstall(extensionDir: string, stateDir: string, env: Env): Promise<void> {
  const { argv, scratch } = npmInstallCommand(stateDir, env.npm_config_cache);
  const [binary, ...args] = argv as [string, ...string[]];
  try {
    const result = await run(binary, args, { cwd: extensionDir, env, timeoutMs: 5 * 60_000 });
    if (result.code !== 0) throw new Error(describeFailure(result));
  } finally {
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  }
}

export interface ExtensionPlanInput {
  settings: PlanSettings;
  secretsFile: string | undefined;
  /** the user's own npm_config_cache, if set */
  npmCache?: string | undefined;
}

export function planExtension({ settings, secretsFile, npmCache }: ExtensionPlanInput): PlanStep[] {
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
    ...npmInstallCommand(settings.stateDir, npmCache),
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
  return existsSync(current) && readFileSync(current, "utf8") === packageJson && ioredisFits(ioredisInstalled(dir));
}

/** The ioredis major version the extension's package.json asks for. */
export function requiredIoredisMajor(): number {
  return Number(/\d+/.exec(ownPackageJson().dependencies.ioredis ?? "")?.[0]);
}

export function ioredisFits(version: string | undefined): version is string {
  return version !== undefined && Number(version.split(".")[0]) === requiredIoredisMajor();
}

/**
 * The ioredis version installed in the extension's own node_modules, read from disk each time:
 * pi resolves from there, and an ioredis in a parent folder's node_modules does not count.
 */
export function ioredisInstalled(extensionDir: string): string | undefined {
  try {
    const dir = join(extensionDir, "node_modules", "ioredis");
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version?: unknown; main?: unknown };
    if (typeof pkg.version !== "string") return undefined;
    return existsSync(join(dir, typeof pkg.main === "string" ? pkg.main : "index.js")) ? pkg.version : undefined;
  } catch {
    return undefined;
  }
}
