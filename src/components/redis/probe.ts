// Is Redis there? PING with a short timeout and a diagnosis a user can act on.

import type { RedisProbe, RedisTarget } from "../../core/redis.ts";
import { withTimeout } from "../../platform/abort.ts";
import { RedisConnection } from "./connection.ts";
import { NotRedisReply } from "./resp.ts";

/** Connected, authenticated, on the URL's database; rejects with the first problem (ECONNREFUSED, WRONGPASS, a db that does not exist...). */
export function openRedis(target: RedisTarget, timeoutMs = 2000): Promise<RedisConnection> {
  return RedisConnection.open(target, { connectMs: timeoutMs, commandMs: timeoutMs });
}

/** Connects and PINGs; on success the client stays open for the caller (who must disconnect it). */
export async function connectRedis(target: RedisTarget, timeoutMs = 2000, signal?: AbortSignal): Promise<{ probe: RedisProbe; client?: RedisConnection }> {
  let client: RedisConnection | undefined;
  const opening = openRedis(target, timeoutMs);
  try {
    client = await withTimeout(opening, timeoutMs + 500, signal);
    // the PING's round trip alone: connecting is not Redis's latency. INFO goes in the same write,
    // after it, so it adds no round trip and nothing to the PING's
    const started = Date.now();
    const pinging = client.ping();
    const serverInfo = client.info("server").catch(() => "");
    const pong = await withTimeout(pinging, timeoutMs + 500, signal);
    const latencyMs = Date.now() - started;
    if (pong !== "PONG") throw new Error(`unexpected reply to PING: ${pong}`);
    const info = await serverInfo;
    const version = /redis_version:(\S+)/.exec(info)?.[1];
    return { probe: { status: "ok", latencyMs, ...(version ? { version } : {}) }, client };
  } catch (error) {
    if (client) client.disconnect();
    else
      void opening.then(
        (late) => late.disconnect(),
        () => {},
      );
    return { probe: signal?.aborted ? { status: "error", message: "cancelled" } : diagnose(target, error as Error) };
  }
}

export async function probeRedis(target: RedisTarget, timeoutMs = 2000, signal?: AbortSignal): Promise<RedisProbe> {
  const { probe, client } = await connectRedis(target, timeoutMs, signal);
  client?.disconnect();
  return probe;
}

/** What went wrong talking to Redis, in words a user can act on. */
export function diagnose(target: RedisTarget, error: Error): Exclude<RedisProbe, { status: "ok" }> {
  const where = `${target.host}:${target.port}`;
  const text = error.message ?? String(error);
  // first: what such a service sent is in the message, and may hold any of the words matched below
  if (error instanceof NotRedisReply) {
    const reply = error.began ? `its reply began "${error.began}"` : "its reply was not text";
    return { status: "error", message: `something other than Redis answered at ${where}: ${reply}.` };
  }
  // a server with a password answers an unauthenticated command of more than 10 arguments (a
  // script's) with "Protocol error: unauthenticated multibulk length" instead of NOAUTH
  if (/NOAUTH|unauthenticated (multi)?bulk/i.test(text)) {
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
