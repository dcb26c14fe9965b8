// What kind of machine this is, as data, so plans for macOS can be built (and tested) on Linux.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import type { SystemInfo } from "../core/system.ts";
import { type Env, runSync, which } from "./exec.ts";

const PROBED_BINARIES = ["brew", "apt-get", "sudo", "systemctl", "service", "redis-server", "redis-cli", "npm", "pi", "tmux", "launchctl", "crontab", "node"];

/** This machine's platform as SystemInfo names it. */
export function currentPlatform(): SystemInfo["platform"] {
  return process.platform === "darwin" ? "darwin" : process.platform === "linux" ? "linux" : "other";
}

/**
 * The test seam for what cannot exist here: launchd on Linux. The tests run the real CLI with a
 * recording launchctl (or systemctl) first on PATH and say the machine has that service manager.
 */
const SERVICE_MANAGER_OVERRIDE = "GATEWAY_SETUP_TEST_SERVICE_MANAGER";

function serviceManagerOverride(env: Env): SystemInfo["serviceManager"] | undefined {
  const value = env[SERVICE_MANAGER_OVERRIDE];
  return value === "launchd" || value === "systemd" || value === "none" ? value : undefined;
}

export function detectSystem(env: Env = process.env): SystemInfo {
  const platform = currentPlatform();
  // each looked up on PATH at its first read: a tier-1 plan asks for a few of the thirteen
  const binaries: Record<string, string | undefined> = {};
  for (const name of PROBED_BINARIES) askedOnce(binaries, name, () => which(name, env));
  const runtimeDir = env.XDG_RUNTIME_DIR;
  const systemdUser = platform === "linux" && Boolean(binaries.systemctl) && Boolean(runtimeDir) && existsSync(`${runtimeDir}/systemd/private`);
  const system: SystemInfo = {
    platform,
    isRoot: typeof process.getuid === "function" && process.getuid() === 0,
    binaries,
    systemdRunning: existsSync("/run/systemd/system"),
    uid: typeof process.getuid === "function" ? process.getuid() : 0,
    serviceManager: serviceManagerOverride(env) ?? (platform === "darwin" && binaries.launchctl ? "launchd" : systemdUser ? "systemd" : "none"),
    ...(systemdUser ? optional("lingerOn", lingerEnabled(env)) : {}),
  };
  // asked of pgrep only by a plan with crontab lines: a tier-1 setup spawns nothing for it
  if (binaries.crontab) askedOnce(system, "cronRunning", () => cronDaemonRunning(platform, env));
  return system;
}

/** `key` reads as `ask()`'s answer, asked at the first read and kept; an undefined answer reads as absent. */
function askedOnce<T extends object, K extends keyof T>(target: T, key: K, ask: () => T[K]): void {
  Object.defineProperty(target, key, {
    configurable: true,
    enumerable: true,
    get() {
      const value = ask();
      if (value === undefined) delete target[key];
      else Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
      return value;
    },
  });
}

/** loginctl's Linger for this user: true/false, or undefined when loginctl cannot tell. */
export function lingerEnabled(env: Env = process.env): boolean | undefined {
  try {
    const result = runSync("loginctl", ["show-user", env.USER ?? String(process.getuid?.() ?? ""), "--property=Linger"], { env, timeoutMs: 10_000 });
    const value = /^Linger=(yes|no)$/m.exec(result.stdout)?.[1];
    return result.code === 0 && value ? value === "yes" : undefined;
  } catch {
    return undefined;
  }
}

const optional = <K extends string, V>(key: K, value: V | undefined) => (value === undefined ? {} : ({ [key]: value } as Record<K, V>));

/** the process names of the cron daemons that run users' crontabs: Debian/Ubuntu's, and cronie's or busybox's */
const CRON_DAEMONS = ["cron", "crond"];

/**
 * Whether a cron daemon runs here (true/false), or undefined when this machine cannot tell.
 * Linux: a process named cron or crond, asked of pgrep (through the exec adapter) or else read
 * from /proc; macOS: launchd starts cron whenever a crontab exists, so it counts as running.
 */
export function cronDaemonRunning(platform: SystemInfo["platform"], env: Env = process.env): boolean | undefined {
  if (platform === "darwin") return true;
  if (platform !== "linux") return undefined;
  if (which("pgrep", env)) {
    // pgrep: 0 found, 1 none found; anything else (a broken pgrep) leaves it to /proc
    const answers = CRON_DAEMONS.map((name) => {
      try {
        return runSync("pgrep", ["-x", name], { env, timeoutMs: 5000 }).code;
      } catch {
        return null;
      }
    });
    if (answers.includes(0)) return true;
    if (answers.every((code) => code === 1)) return false;
  }
  return processNamed(CRON_DAEMONS);
}

/** Linux without pgrep (minimal containers): any /proc/<pid>/comm that is one of `names`. */
function processNamed(names: string[]): boolean | undefined {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((entry) => /^\d+$/.test(entry));
  } catch {
    return undefined;
  }
  let seen = 0;
  for (const pid of pids) {
    try {
      if (names.includes(readFileSync(`/proc/${pid}/comm`, "utf8").trim())) return true;
      seen++;
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return seen ? false : undefined;
}

/** How to start the cron daemon (Debian/Ubuntu's name; `crond` on Fedora or Alpine); no sudo for root, which containers often lack. */
export function startCronCommand(isRoot: boolean = process.getuid?.() === 0): string {
  return `${isRoot ? "" : "sudo "}service cron start`;
}
