// What kind of machine this is, as data, so plans for macOS can be built (and tested) on Linux.
import { existsSync } from "node:fs";
import { which, type Env } from "./exec.ts";

export interface SystemInfo {
  platform: "darwin" | "linux" | "other";
  isRoot: boolean;
  /** binaries found on PATH, by name */
  binaries: Record<string, string | undefined>;
  /** systemd is PID 1 (systemctl start works) */
  systemdRunning: boolean;
  uid: number;
  /** what can keep the central session running: launchd (macOS), a systemd user manager, or nothing (containers) */
  serviceManager: "launchd" | "systemd" | "none";
}

const PROBED_BINARIES = ["brew", "apt-get", "sudo", "systemctl", "service", "redis-server", "redis-cli", "npm", "pi", "tmux", "launchctl", "crontab", "node"];

export function detectSystem(env: Env = process.env): SystemInfo {
  const platform = process.platform === "darwin" ? "darwin" : process.platform === "linux" ? "linux" : "other";
  const binaries: Record<string, string | undefined> = {};
  for (const name of PROBED_BINARIES) binaries[name] = which(name, env);
  const runtimeDir = env.XDG_RUNTIME_DIR;
  const systemdUser = platform === "linux" && Boolean(binaries.systemctl) && Boolean(runtimeDir) && existsSync(`${runtimeDir}/systemd/private`);
  return {
    platform,
    isRoot: typeof process.getuid === "function" && process.getuid() === 0,
    binaries,
    systemdRunning: existsSync("/run/systemd/system"),
    uid: typeof process.getuid === "function" ? process.getuid() : 0,
    serviceManager: platform === "darwin" && binaries.launchctl ? "launchd" : systemdUser ? "systemd" : "none",
  };
}
