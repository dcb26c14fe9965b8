// Every path the installer touches derives from HOME, PI_CODING_AGENT_DIR or explicit options.
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import type { Env } from "./exec.ts";

export function homeDir(env: Env = process.env): string {
  return env.HOME || homedir();
}

/** `~` and a leading `~/` mean HOME (as the shell would have expanded them); anything else is left as it is. */
export function expandHome(path: string, env: Env = process.env): string {
  if (path === "~") return homeDir(env);
  if (path.startsWith("~/")) return join(homeDir(env), path.slice(2));
  return path;
}

/** pi's agent dir: PI_CODING_AGENT_DIR, else ~/.pi/agent */
export function agentDir(env: Env = process.env): string {
  const configured = env.PI_CODING_AGENT_DIR;
  if (configured) {
    const expanded = expandHome(configured, env);
    return isAbsolute(expanded) ? expanded : resolve(expanded);
  }
  return join(homeDir(env), ".pi", "agent");
}

/** the gateway's own state: manifest, secrets, backups */
export function gatewayStateDir(env: Env = process.env): string {
  return join(agentDir(env), "gateway");
}

export const MANIFEST_FILE_NAME = "manifest.json";

/** where the manifest of what gateway-setup installed for this agent dir lives */
export function installedManifestPath(env: Env = process.env): string {
  return join(gatewayStateDir(env), MANIFEST_FILE_NAME);
}

export const EXTENSION_NAME = "gateway";

export function extensionDir(scope: "global" | "project", projectDir: string, env: Env = process.env): string {
  return scope === "global" ? join(agentDir(env), "extensions", EXTENSION_NAME) : join(resolve(projectDir), ".pi", "extensions", EXTENSION_NAME);
}

/** How a path is shown to the user: ~ for the home directory. */
export function displayPath(path: string, env: Env = process.env): string {
  const home = homeDir(env);
  return path === home || path.startsWith(home + "/") ? "~" + path.slice(home.length) : path;
}
