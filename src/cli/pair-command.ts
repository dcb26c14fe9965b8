// `gateway-setup pair <code> [--json]`: admits the Telegram user the bot gave this one-time code.
import type { Redis } from "ioredis";
import { clientOptions, closeClient, loadIoredis, runtimeRedisTarget } from "../runtime/consumer/connection.ts";
import { loadInstalledDaemon } from "../runtime/daemon/daemon-file.ts";
// not the telegram index: that loads grammY, which pairing does not need
import { PAIRING_TTL_SECONDS, redeemPairingCode } from "../runtime/daemon/telegram/pairing.ts";
import { installedDaemonConfigPath } from "./daemon-command.ts";
import { EXIT_FAILED, EXIT_OK } from "./exit-codes.ts";

class PairError extends Error {
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

export async function runPairCommand(code: string, flags: { json?: boolean }, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  try {
    const { userId, chatId } = await pair(code, env);
    if (flags.json) process.stdout.write(`${JSON.stringify({ ok: true, userId, chatId }, null, 2)}\n`);
    else process.stdout.write(`Admitted Telegram user ${userId}: they can talk to the bot now (their messages are answered in chat ${chatId}).\n`);
    return EXIT_OK;
  } catch (error) {
    const { message } = error as Error;
    const fix = error instanceof PairError ? error.fix : "";
    if (flags.json) process.stdout.write(`${JSON.stringify({ ok: false, error: { message, fix } }, null, 2)}\n`);
    else process.stderr.write(`gateway-setup pair: ${message}${fix ? `\n  fix: ${fix}` : ""}\n`);
    return EXIT_FAILED;
  }
}

async function pair(code: string, env: NodeJS.ProcessEnv): Promise<{ userId: number; chatId: number }> {
  const path = installedDaemonConfigPath(env);
  let installed: ReturnType<typeof loadInstalledDaemon>;
  try {
    installed = loadInstalledDaemon(path);
  } catch (error) {
    throw new PairError(`no usable tier-4 gateway here: ${(error as Error).message}`, "install it with `gateway-setup --tier 4`");
  }
  if (!installed.telegram)
    throw new PairError(`the installed gateway has no Telegram bot (${path} has no telegram section)`, "re-run `gateway-setup --tier 4`");
  const redis = await connect(installed.config, env);
  try {
    const admitted = await redeemPairingCode(redis, installed.config.prefix, code).catch((error: Error) => {
      throw new PairError(`cannot reach Redis: ${error.message}`, "check that Redis runs (`gateway-setup doctor`)");
    });
    if (!admitted) {
      const hours = PAIRING_TTL_SECONDS / 3600;
      throw new PairError(
        `no such code (codes expire after ${hours} hour${hours === 1 ? "" : "s"}): ask the bot again`,
        "send the bot any message for a fresh code",
      );
    }
    return admitted;
  } finally {
    await closeClient(redis);
  }
}

async function connect(config: { redisUrl: string; secretsFile?: string }, env: NodeJS.ProcessEnv): Promise<Redis> {
  const target = runtimeRedisTarget(config, env);
  const { url, options } = clientOptions(target.url, target.password);
  const RedisClient = await loadIoredis();
  // a failed connection shows as the command's error, not as an unhandled error event
  return new RedisClient(url, { ...options, retryStrategy: () => null }).on("error", () => {});
}
