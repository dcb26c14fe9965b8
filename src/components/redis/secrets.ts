// The secrets live in one 0600 env file in the gateway's state dir: the Redis password (the
// extension reads GATEWAY_REDIS_PASSWORD; redis-cli in cron and the jobs reads REDISCLI_AUTH) and,
// in tier 4, the bot token (the daemon reads it; the service's environment never holds it).
import { join } from "node:path";
import type { FileStep } from "../../core/plan.ts";
import { shellQuote } from "../../platform/shell.ts";
import { TELEGRAM_TOKEN_KEY } from "../../runtime/daemon/daemon-file.ts";

export const SECRETS_FILE_NAME = "secrets.env";

export function secretsFilePath(stateDir: string): string {
  return join(stateDir, SECRETS_FILE_NAME);
}

export interface Secrets {
  redisPassword?: string;
  telegramToken?: string;
}

export function renderSecrets({ redisPassword, telegramToken }: Secrets): string {
  if (redisPassword && /[\r\n\0]/.test(redisPassword)) throw new Error("the Redis password must not contain line breaks");
  if (telegramToken && !/^[\w:-]+$/.test(telegramToken)) throw new Error("the bot token holds characters a Telegram token never has");
  return [
    "# Written by gateway-setup. Secrets for the gateway; keep this file mode 0600.",
    ...(redisPassword ? [`GATEWAY_REDIS_PASSWORD=${shellQuote(redisPassword)}`, `REDISCLI_AUTH=${shellQuote(redisPassword)}`] : []),
    ...(telegramToken ? [`${TELEGRAM_TOKEN_KEY}=${shellQuote(telegramToken)}`] : []),
    "",
  ].join("\n");
}

export function planSecrets(stateDir: string, secrets: Secrets): FileStep {
  const what = [secrets.redisPassword ? "Redis password" : "", secrets.telegramToken ? "bot token" : ""].filter(Boolean).join(" and ");
  return {
    kind: "file",
    component: "redis",
    description: `${what} (mode 0600)`,
    path: secretsFilePath(stateDir),
    contents: renderSecrets(secrets),
    mode: 0o600,
    secret: true,
  };
}
