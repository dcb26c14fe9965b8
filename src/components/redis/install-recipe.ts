// The platform's way to install and start a local Redis, as argv lists (nothing runs here).

import type { RedisTarget } from "../../core/redis.ts";
import type { SystemInfo } from "../../core/system.ts";
import { isLocalHost } from "./url.ts";

/** The Redis that apt or brew installs listens on plain TCP at 127.0.0.1:6379: only that URL can be fixed by installing it. */
export function installCanServe(target: RedisTarget): boolean {
  return !target.tls && isLocalHost(target) && target.port === 6379;
}

export interface RedisInstallRecipe {
  manager: "brew" | "apt";
  commands: string[][];
}

export function redisInstallRecipe(system: SystemInfo): RedisInstallRecipe | undefined {
  if (system.platform === "darwin" && system.binaries.brew) {
    return {
      manager: "brew",
      commands: [
        ["brew", "install", "redis"],
        ["brew", "services", "start", "redis"],
      ],
    };
  }
  if (system.platform === "linux" && system.binaries["apt-get"]) {
    const asRoot = (argv: string[]) => (system.isRoot ? argv : ["sudo", ...argv]);
    const start = system.systemdRunning ? ["systemctl", "start", "redis-server"] : ["service", "redis-server", "start"];
    return {
      manager: "apt",
      commands: [asRoot(["apt-get", "update"]), asRoot(["apt-get", "install", "-y", "redis-server"]), asRoot(start)],
    };
  }
  return undefined;
}

export function manualRedisHint(system: SystemInfo): string {
  if (system.platform === "darwin") return "brew install redis && brew services start redis";
  return "sudo apt-get install -y redis-server && sudo service redis-server start";
}
