// The Redis password lives in one 0600 env file in the gateway's state dir. The extension reads
// GATEWAY_REDIS_PASSWORD; redis-cli (cron, later tiers) reads REDISCLI_AUTH.
import { join } from "node:path";
import type { FileStep } from "../../core/plan.ts";
import { shellQuote } from "../../platform/shell.ts";

export const SECRETS_FILE_NAME = "secrets.env";

export function secretsFilePath(stateDir: string): string {
  return join(stateDir, SECRETS_FILE_NAME);
}

export function renderSecrets(password: string): string {
  if (/[\r\n\0]/.test(password)) throw new Error("the Redis password must not contain line breaks");
  return [
    "# Written by gateway-setup. Secrets for the gateway; keep this file mode 0600.",
    `GATEWAY_REDIS_PASSWORD=${shellQuote(password)}`,
    `REDISCLI_AUTH=${shellQuote(password)}`,
    "",
  ].join("\n");
}

export function planSecrets(stateDir: string, password: string): FileStep {
  return {
    kind: "file",
    component: "redis",
    description: "Redis password (mode 0600)",
    path: secretsFilePath(stateDir),
    contents: renderSecrets(password),
    mode: 0o600,
    secret: true,
  };
}
