// The platform's way to install and start a local Redis, as argv lists (nothing runs here).
import type { SystemInfo } from "../../platform/system.ts";

export interface RedisInstallRecipe {
  manager: "brew" | "apt";
  commands: string[][];
}

export function redisInstallRecipe(system: SystemInfo): RedisInstallRecipe | undefined {
  if (system.platform === "darwin" && system.binaries.brew) {
    return { manager: "brew", commands: [["brew", "install", "redis"], ["brew", "services", "start", "redis"]] };
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
