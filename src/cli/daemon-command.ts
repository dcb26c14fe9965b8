// `gateway-setup daemon [--config <path>]`: tier 4's daemon in the foreground (what the service
// runs) until SIGTERM or SIGINT. Log lines go to stderr with a timestamp; the token never does.
import { join } from "node:path";
import { gatewayStateDir } from "../platform/paths.ts";
import { DAEMON_CONFIG_FILE } from "../runtime/daemon/daemon-file.ts";
import { EXIT_FAILED } from "./exit-codes.ts";

/** how long a stopped daemon may take to let go of its last handles before the process ends anyway */
const EXIT_GRACE_MS = 3000;

/** the installed daemon's config: `<agent dir>/gateway/daemon.json` */
export function installedDaemonConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(gatewayStateDir(env), DAEMON_CONFIG_FILE);
}

export async function runDaemonCommand(flags: { config?: string }, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} gateway daemon: ${line}\n`);
  let code: number;
  try {
    // loaded here: `pair` takes the config path from this module and must not load the pi SDK
    const { runDaemonProcess } = await import("../runtime/daemon/run.ts");
    code = await runDaemonProcess({ configPath: flags.config ?? installedDaemonConfigPath(env), env, log });
  } catch (error) {
    process.stderr.write(`gateway-setup daemon: ${(error as Error).message}\n`);
    code = EXIT_FAILED;
  }
  // a socket the pi SDK or a library keeps open must not hold a stopped daemon up
  setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
  return code;
}
