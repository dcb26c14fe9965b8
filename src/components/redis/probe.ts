// Is Redis there? PING with a short timeout and a diagnosis a user can act on.

import { createRequire } from "node:module";
import type * as Ioredis from "ioredis";
import type { Redis } from "ioredis";
import type { RedisProbe, RedisTarget } from "../../core/redis.ts";
import { withTimeout } from "../../platform/abort.ts";
import { connectionUrl } from "./url.ts";

/** The first error the connection itself reported (e.g. WRONGPASS during AUTH), by client. */
const connectionErrors = new WeakMap<Redis, Error>();

export async function openRedis(target: RedisTarget, timeoutMs = 2000): Promise<Redis> {
  // loaded at the first connection, by require: a CommonJS package of 40 files loads far faster this way than through the ESM loader
  const { Redis } = createRequire(import.meta.url)("ioredis") as typeof Ioredis;
  const client = new Redis(connectionUrl(target), {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    // without this, ioredis's own INFO check meets NOAUTH and closes the connection, which would
    // look like "unreachable"; our PING reports the real reason instead
    enableReadyCheck: false,
    retryStrategy: () => null,
    // CLIENT SETINFO on connect would wait on a hung server before our PING could time out
    disableClientInfo: true,
    // disconnecting an already closed stream would otherwise keep the process alive this long
    disconnectTimeout: 100,
    ...(target.tls ? { tls: {} } : {}),
  });
  client.on("error", (error: Error) => {
    if (!connectionErrors.has(client)) connectionErrors.set(client, error);
  });
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    throw connectionErrors.get(client) ?? error;
  }
  return client;
}

/** Connects and PINGs; on success the client stays open for the caller (who must disconnect it). */
export async function connectRedis(target: RedisTarget, timeoutMs = 2000, signal?: AbortSignal): Promise<{ probe: RedisProbe; client?: Redis }> {
  let client: Redis | undefined;
  const opening = openRedis(target, timeoutMs);
  try {
    client = await withTimeout(opening, timeoutMs + 500, signal);
    // ioredis falls back to database 0 when its own SELECT fails: a database that does not exist must fail here
    if (target.db) await withTimeout(client.select(target.db), timeoutMs + 500, signal);
    // the PING's round trip alone: loading ioredis and connecting are not Redis's latency
    const started = Date.now();
    const pong = await withTimeout(client.ping(), timeoutMs + 500, signal);
    const latencyMs = Date.now() - started;
    if (pong !== "PONG") throw new Error(`unexpected reply to PING: ${pong}`);
    const info = await client.info("server").catch(() => "");
    const version = /redis_version:(\S+)/.exec(info)?.[1];
    return { probe: { status: "ok", latencyMs, ...(version ? { version } : {}) }, client };
  } catch (error) {
    const cause = (client && connectionErrors.get(client)) || (error as Error);
    if (client) client.disconnect();
    else
      void opening.then(
        (late) => late.disconnect(),
        () => {},
      );
    return { probe: signal?.aborted ? { status: "error", message: "cancelled" } : diagnose(target, cause) };
  }
}

export async function probeRedis(target: RedisTarget, timeoutMs = 2000, signal?: AbortSignal): Promise<RedisProbe> {
  const { probe, client } = await connectRedis(target, timeoutMs, signal);
  client?.disconnect();
  return probe;
}

function diagnose(target: RedisTarget, error: Error): RedisProbe {
  const where = `${target.host}:${target.port}`;
  const text = error.message ?? String(error);
  if (/NOAUTH/i.test(text)) {
    return {
      status: "auth-required",
      message: `Redis at ${where} requires a password and none was given (NOAUTH).`,
    };
  }
  if (/WRONGPASS|invalid password|invalid username-password/i.test(text)) {
    return { status: "auth-failed", message: `Redis at ${where} rejected the password (WRONGPASS).` };
  }
  if (/certificate|SSL|TLS|EPROTO/i.test(text)) {
    return {
      status: "error",
      message: `the TLS connection to Redis at ${where} failed (${shorten(text)}). If your Redis uses a private CA, set NODE_EXTRA_CA_CERTS=/path/to/ca.pem.`,
    };
  }
  if (target.tls && /ETIMEDOUT|timed out|timeout|Connection is closed|ECONNRESET|socket hang up/i.test(text)) {
    // the port answered TCP but no TLS handshake completed: typically a plain Redis behind rediss://
    return {
      status: "error",
      message:
        `the TLS handshake with Redis at ${where} did not complete (${shorten(text)}). If that Redis does not use TLS, use redis:// instead of ` + `rediss://.`,
    };
  }
  if (/ECONNREFUSED|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|timed out|timeout|Connection is closed/i.test(text)) {
    return { status: "unreachable", message: `no Redis answered at ${where} (${shorten(text)}).` };
  }
  return { status: "error", message: `Redis at ${where} failed: ${shorten(text)}` };
}

function shorten(text: string): string {
  return text.split("\n")[0]!.slice(0, 200);
}
