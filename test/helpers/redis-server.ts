// Starts a private redis-server on a free loopback port for tests (never the user's 6379).
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "./wait.ts";

export const INSTALL_HINT = "install it with: apt-get install -y redis-server tmux cron openssl iproute2 curl (macOS: brew install redis tmux)";

export function requireBinary(name: string): void {
  const found = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  if (found.status !== 0) {
    throw new Error(`${name} is not installed but the tests need it; ${INSTALL_HINT}`);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface RedisServerOptions {
  port?: number;
  password?: string;
  /** append-only file with fsync on every write, kept across restart() */
  persistent?: boolean;
}

export interface RunningRedis {
  port: number;
  url: string;
  /** stops the server (SIGTERM) and waits for it to exit */
  stop(): Promise<void>;
  /**
   * stops the server (SIGTERM, or `signal`), stays down `downMs`, and starts it again on the same
   * port with the same data dir (what an append-only file kept survives)
   */
  restart(options?: { signal?: NodeJS.Signals; downMs?: number }): Promise<void>;
}

async function waitForPing(port: number, password: string | undefined, timeoutMs: number, server: ChildProcess): Promise<void> {
  const args = ["-h", "127.0.0.1", "-p", String(port), "PING"];
  const env = password ? { ...process.env, REDISCLI_AUTH: password } : process.env;
  const answered = () => {
    if (spawnSync("redis-cli", args, { encoding: "utf8", env }).stdout?.trim() === "PONG") return true;
    // e.g. the port was taken between freePort() and the bind: no use waiting out the deadline
    if (server.exitCode !== null) throw new PortLost(`redis-server on port ${port} exited (status ${server.exitCode}) before it answered PING`);
    return false;
  };
  await waitFor(answered, `redis-server on port ${port} to answer PING`, timeoutMs);
}

class PortLost extends Error {}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RunningRedis> {
  requireBinary("redis-server");
  requireBinary("redis-cli");
  let port = options.port ?? (await freePort());
  let child: ChildProcess | undefined;
  let dir: string | undefined;

  const launch = async () => {
    dir ??= mkdtempSync(join(tmpdir(), "gateway-redis-"));
    const args = [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      options.persistent ? "yes" : "no",
      "--appendfsync",
      "always",
      "--dir",
      dir,
      "--logfile",
      "",
      "--loglevel",
      "warning",
    ];
    if (options.password) args.push("--requirepass", options.password);
    child = spawn("redis-server", args, { stdio: "ignore" });
    await waitForPing(port, options.password, 10_000, child);
  };

  const halt = async (signal: NodeJS.Signals = "SIGTERM") => {
    const running = child;
    child = undefined;
    if (running && running.exitCode === null) {
      await new Promise<void>((resolve) => {
        running.once("exit", () => resolve());
        running.kill(signal);
      });
    }
  };
  const stop = async () => {
    await halt();
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  };

  // a port freePort() found free can be taken (by any connect() on the machine) before redis-server
  // binds it: then pick another, unless the caller asked for this one
  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (error) {
      if (!(error instanceof PortLost) || options.port !== undefined || attempt >= 3) throw error;
      port = await freePort();
    }
  }
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : "";
  return {
    port,
    url: `redis://${auth}127.0.0.1:${port}`,
    stop,
    restart: async ({ signal, downMs = 0 } = {}) => {
      await halt(signal);
      if (downMs) await new Promise((resolve) => setTimeout(resolve, downMs));
      await launch();
    },
  };
}
