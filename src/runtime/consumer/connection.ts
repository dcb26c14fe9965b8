// The consumer's Redis clients: ioredis loaded lazily (a failing import must not stop pi), the
// credentials taken out of the URL, and a shutdown that never hangs.
import type { Redis, RedisOptions } from "ioredis";
import { readSecretsFile } from "./secrets.ts";

/** Environment variables that override the installed Redis target at run time. */
export const ENV_REDIS_URL = "GATEWAY_REDIS_URL";
export const ENV_REDIS_PASSWORD = "GATEWAY_REDIS_PASSWORD";

/**
 * The password of an installed gateway's Redis: GATEWAY_REDIS_PASSWORD in the environment wins,
 * then the one held in memory (the installer's self-test), then the install's 0600 secrets file.
 * The extension, doctor, status, push, uninstall and a re-run of setup all look it up here.
 */
export function installedRedisPassword(env: Record<string, string | undefined>, secretsFile: string | undefined, inMemory?: string): string | undefined {
  return env[ENV_REDIS_PASSWORD] || inMemory || readSecretsFile(secretsFile)[ENV_REDIS_PASSWORD] || undefined;
}

/** Where the consumer connects: the environment wins over the installed URL; the password as installedRedisPassword finds it. */
export function runtimeRedisTarget(
  config: { redisUrl: string; redisPassword?: string; secretsFile?: string },
  env: Record<string, string | undefined>,
): { url: string; password: string | undefined } {
  return { url: env[ENV_REDIS_URL] || config.redisUrl, password: installedRedisPassword(env, config.secretsFile, config.redisPassword) };
}

export type RedisConstructor = new (url: string, options: RedisOptions) => Redis;

/** ioredis, imported when first needed: the copy bundled into the installed extension, or the package's own (daemon, CLI); throws when it cannot load. */
export async function loadIoredis(): Promise<RedisConstructor> {
  const mod = (await import("ioredis")) as unknown as { Redis?: RedisConstructor; default?: RedisConstructor };
  return (mod.Redis ?? mod.default)!;
}

/** Client options: a short connect timeout, two retries per command, reconnects backing off to 5 s. */
export function clientOptions(redisUrl: string, password: string | undefined): { url: string; options: RedisOptions } {
  const { url, credentials } = withoutCredentials(redisUrl, password);
  return {
    url,
    options: {
      ...credentials,
      connectTimeout: 5000,
      maxRetriesPerRequest: 2,
      retryStrategy: (times) => Math.min(200 * times, 5000),
      ...(url.startsWith("rediss:") ? { tls: {} } : {}),
    },
  };
}

/**
 * The URL without its user and password, and both as client options. ioredis lets a URL's
 * credentials override the options, so `redis://alice@host` with the password in the options
 * authenticated as alice with an empty password (WRONGPASS) and ACL users could never connect.
 */
export function withoutCredentials(redisUrl: string, password: string | undefined): { url: string; credentials: { username?: string; password?: string } } {
  let parsed: URL;
  try {
    parsed = new URL(redisUrl);
  } catch {
    return { url: redisUrl, credentials: password ? { password } : {} };
  }
  const username = decodeURIComponent(parsed.username);
  const chosenPassword = password || decodeURIComponent(parsed.password);
  parsed.username = "";
  parsed.password = "";
  return { url: parsed.toString(), credentials: { ...(username ? { username } : {}), ...(chosenPassword ? { password: chosenPassword } : {}) } };
}

/** Waits for `work`, but at most `ms`; the timer never outlives the wait. */
export async function atMost(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

export async function closeClient(client: Redis): Promise<void> {
  client.removeAllListeners("ready");
  if (client.status === "ready") await atMost(client.quit(), 1000);
  client.disconnect();
}
