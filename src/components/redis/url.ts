// Redis URLs: validated, split into a password-free URL (safe to show and to render into files)
// and the password (which only ever goes to a 0600 file or a child's environment).

import { DEFAULT_REDIS_URL } from "../../core/answers.ts";
import type { RedisTarget } from "../../core/redis.ts";
import { shellQuote } from "../../platform/shell.ts";

export class RedisUrlError extends Error {}

export function parseRedisUrl(input: string, password?: string): RedisTarget {
  let parsed: URL;
  try {
    parsed = new URL(input);
  } catch {
    throw new RedisUrlError(`invalid Redis URL ${JSON.stringify(input)}: expected redis://host:port or rediss://host:port`);
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new RedisUrlError(`invalid Redis URL ${JSON.stringify(redact(parsed))}: the scheme must be redis:// or rediss://`);
  }
  if (!parsed.hostname) throw new RedisUrlError(`invalid Redis URL: no host in ${JSON.stringify(redact(parsed))}`);
  const dbPath = parsed.pathname.replace(/^\//, "");
  if (dbPath !== "" && !/^\d{1,5}$/.test(dbPath)) {
    throw new RedisUrlError(`invalid Redis URL ${JSON.stringify(redact(parsed))}: the path can only be a database number, as in redis://host:6379/2`);
  }
  const fromUrl = parsed.password ? decodeURIComponent(parsed.password) : undefined;
  const tls = parsed.protocol === "rediss:";
  return {
    url: redact(parsed),
    password: password || fromUrl || undefined,
    host: parsed.hostname.replace(/^\[|\]$/g, ""),
    port: parsed.port ? Number(parsed.port) : 6379,
    tls,
    db: Number(dbPath || 0),
  };
}

/** The URL without its password (a copy is made only when there is one) and without a trailing slash. */
function redact(url: URL): string {
  let href = url.href;
  if (url.password) {
    const copy = new URL(href);
    copy.password = "";
    href = copy.href;
  }
  return href.replace(/\/$/, "");
}

export function isLocalHost(target: RedisTarget): boolean {
  return ["127.0.0.1", "localhost", "::1"].includes(target.host);
}

/** The URL with the password put back, for a client in this process only. */
export function connectionUrl(target: RedisTarget): string {
  if (!target.password) return target.url;
  const url = new URL(target.url);
  url.password = encodeURIComponent(target.password);
  return url.href;
}

/** `redis://user:secret@host` -> `redis://user:***@host` anywhere in a text such as a command line. */
export function redactUrlPassword(text: string): string {
  return text.replace(/(\w+:\/\/[^:@/\s]*:)[^@/\s]+@/g, "$1***@");
}

/** `redis-cli` aimed at the installed Redis, for commands we tell the user to run (its password: REDISCLI_AUTH). */
export function redisCliFor(redisUrl: string): string {
  return redisUrl === DEFAULT_REDIS_URL ? "redis-cli" : `redis-cli -u ${shellQuote(redisUrl)}`;
}
