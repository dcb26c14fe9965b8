// The daemon as a process (`gateway-setup daemon`): the installed config, the token from the
// secrets file, the Telegram bridge on its own Redis connection, the daemon core, and a clean stop
// on SIGTERM/SIGINT. The bridge takes the bot's poller lock before the daemon opens pi: a second
// daemon on the same token is refused before it reads the inbox or touches the pi session.
// Without a telegram section the daemon serves Redis events only and its replies go to the log.
import type { Redis } from "ioredis";
import { clientOptions, closeClient, loadIoredis, runtimeRedisTarget } from "../consumer/connection.ts";
import { readSecretsFile } from "../consumer/secrets.ts";
import { describeOrigin } from "./command-queue.ts";
import type { DaemonConfig } from "./config.ts";
import { type Daemon, startDaemon } from "./daemon.ts";
import { loadInstalledDaemon, TELEGRAM_TOKEN_KEY, type TelegramSection } from "./daemon-file.ts";
import { TelegramBridge } from "./telegram/bridge.ts";
import { tokenScrubber } from "./telegram/scrub.ts";
import type { DaemonControl, ReplySink } from "./types.ts";

/** a reply logged by the Redis-only daemon is cut here */
const LOGGED_REPLY_CHARS = 1000;

export interface DaemonProcessOptions {
  /** the installed daemon.json */
  configPath: string;
  /** GATEWAY_REDIS_URL / GATEWAY_REDIS_PASSWORD here override the installed ones */
  env: Record<string, string | undefined>;
  /** one line per notice (the token is scrubbed before it gets here) */
  log(line: string): void;
}

export interface RunningDaemon {
  daemon: Daemon;
  /** absent when the config has no telegram section */
  bridge?: TelegramBridge;
  /** the daemon first (its running turn is answered after the restart), then the bridge and its Redis; resolves when all is down */
  stop(): Promise<void>;
}

/** Starts everything; throws (after closing what it opened) when the config, the token, Redis, the bot's lock or the model is not usable. */
export async function startDaemonProcess(options: DaemonProcessOptions): Promise<RunningDaemon> {
  const { config, telegram } = loadInstalledDaemon(options.configPath);
  if (!telegram) {
    options.log("no telegram section in the config: serving Redis events only; replies go to this log");
    const daemon = await startDaemon(config, { inputs: [], sink: logSink(options.log), env: options.env, log: options.log });
    return { daemon, stop: () => daemon.shutdown() };
  }
  const token = readSecretsFile(config.secretsFile)[TELEGRAM_TOKEN_KEY];
  if (!token) {
    throw new Error(
      `the config has a telegram section but no bot token: ${TELEGRAM_TOKEN_KEY} is missing from ` +
        `${config.secretsFile ?? "the secrets file (secretsFile is not set)"}. Re-run \`gateway-setup\` to store it.`,
    );
  }
  const scrub = tokenScrubber(token);
  const log = (line: string) => options.log(scrub(line));
  const redis = await openRedis(config, options.env, log);
  const control = new LateControl();
  const bridge = new TelegramBridge(bridgeOptions(telegram, { token, redis, prefix: config.prefix, control, log }));
  try {
    await bridge.start();
  } catch (error) {
    await closeClient(redis);
    throw error;
  }
  let daemon: Daemon;
  try {
    daemon = await startDaemon(config, { inputs: [bridge], sink: bridge, env: options.env, log });
  } catch (error) {
    await bridge.stop();
    await closeClient(redis);
    throw error;
  }
  control.daemon = daemon;
  let stopped: Promise<void> | undefined;
  const stop = async () => {
    await daemon.shutdown();
    await bridge.stop();
    await closeClient(redis);
  };
  return { daemon, bridge, stop: () => (stopped ??= stop()) };
}

/** Runs until SIGTERM or SIGINT (one during the start stops it right after), then stops cleanly; resolves with the exit code (0). */
export async function runDaemonProcess(options: DaemonProcessOptions): Promise<number> {
  let onSignal!: (signal: NodeJS.Signals) => void;
  const signalled = new Promise<NodeJS.Signals>((resolve) => (onSignal = resolve));
  // a second signal while stopping finds no handler and ends the process at once
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  let running: RunningDaemon;
  try {
    running = await startDaemonProcess(options);
  } catch (error) {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    throw error;
  }
  options.log(`running (pid ${process.pid}, model ${running.daemon.modelLabel}${running.bridge ? ", Telegram on" : ", Redis events only"})`);
  const signal = await signalled;
  process.off("SIGTERM", onSignal);
  process.off("SIGINT", onSignal);
  options.log(`${signal}: stopping (a running turn is answered after the restart)`);
  await running.stop();
  options.log("stopped");
  return 0;
}

/** The bridge's control is bound to the daemon once it runs; until then /status says so and /stop finds no turn. */
class LateControl implements DaemonControl {
  daemon: Daemon | undefined;

  status(): string {
    return this.daemon ? this.daemon.status() : "The daemon is starting (loading pi).";
  }

  stop(): Promise<boolean> {
    return this.daemon ? this.daemon.stop() : Promise.resolve(false);
  }

  newSession(): Promise<void> {
    return this.daemon ? this.daemon.newSession() : Promise.reject(new Error("the daemon is still starting; try again in a moment"));
  }
}

function bridgeOptions(
  telegram: TelegramSection,
  fixed: { token: string; redis: Redis; prefix: string; control: DaemonControl; log(line: string): void },
): ConstructorParameters<typeof TelegramBridge>[0] {
  const { apiRoot, allow, pairing, notify, ...tuning } = telegram;
  return { ...fixed, allow, pairing, ...(apiRoot ? { apiRoot } : {}), ...(notify ? { notifyChats: notify } : {}), ...tuning };
}

/** The bridge's own command connection (the consumer opens its own pair). */
async function openRedis(config: DaemonConfig, env: Record<string, string | undefined>, log: (line: string) => void): Promise<Redis> {
  const target = runtimeRedisTarget(config, env);
  const { url, options } = clientOptions(target.url, target.password);
  const RedisClient = await loadIoredis();
  const redis = new RedisClient(url, options);
  // one line per outage, not one per reconnect attempt
  let down = false;
  redis.on("error", (error: Error) => {
    if (!down) log(`telegram: Redis connection failed (${error.message}); reconnecting`);
    down = true;
  });
  redis.on("ready", () => {
    if (down) log("telegram: Redis connection is back");
    down = false;
  });
  return redis;
}

/** Without Telegram a reply has nowhere to go but the service's log. */
function logSink(log: (line: string) => void): ReplySink {
  return {
    async deliver(origin, text) {
      const cut = text.length > LOGGED_REPLY_CHARS ? `${text.slice(0, LOGGED_REPLY_CHARS)}… (${text.length - LOGGED_REPLY_CHARS} more characters)` : text;
      log(`reply to ${describeOrigin(origin)}: ${cut}`);
    },
  };
}
