// `gateway-setup push <type>`: validate one event, route it, push it, say where it went.

import { redisTargetFor } from "../components/redis/installed-target.ts";
import { connectRedis } from "../components/redis/probe.ts";
import { parseRedisUrl } from "../components/redis/url.ts";
import type { RedisTarget } from "../core/redis.ts";
import { readManifest } from "../install/manifest.ts";
import { installedManifestPath } from "../platform/paths.ts";
import { ENV_REDIS_URL } from "../runtime/extension/config.ts";
import { createEvent, type GatewayEvent, HEARTBEAT_EVENT_TYPE } from "../runtime/protocol/event.ts";
import { assertPrefix, assertSessionId, DEFAULT_PREFIX, isValidSessionId } from "../runtime/protocol/keys.ts";
import { serializeEvent } from "../runtime/protocol/push.ts";
import { pushEvent } from "../runtime/protocol/route.ts";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "./exit-codes.ts";

export interface PushFlags {
  payload?: string;
  source?: string;
  origin?: string;
  id?: string;
  redisUrl?: string;
  prefix?: string;
  json?: boolean;
}

class PushUsageError extends Error {}

function parsePayload(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new PushUsageError(`--payload is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new PushUsageError("--payload must be a JSON object, e.g. '{\"ok\":true}'");
  return value as Record<string, unknown>;
}

function originSkipped(origin: string, type: string): string {
  return type === HEARTBEAT_EVENT_TYPE
    ? `heartbeats go to the central session only, not to the origin "${origin}"`
    : `the origin "${origin}" is not a live session here, so it did not get the event`;
}

export async function runPushCommand(type: string, flags: PushFlags, env = process.env): Promise<number> {
  const fail = (code: number, message: string) => {
    if (flags.json) process.stdout.write(JSON.stringify({ ok: false, error: message }, null, 2) + "\n");
    else process.stderr.write(`gateway-setup push: ${message}\n`);
    return code;
  };
  const manifest = readManifest(installedManifestPath(env));
  let event: GatewayEvent;
  let prefix: string;
  let target: RedisTarget;
  // inside a pi session (its bash tool), the session's own id is the natural origin
  const origin = flags.origin ?? (env.GATEWAY_SESSION_ID || undefined);
  try {
    if (flags.origin === undefined && origin !== undefined && !isValidSessionId(origin)) {
      throw new PushUsageError(`GATEWAY_SESSION_ID in the environment (taken as the origin) is not a valid session id: "${origin}"; unset it or pass --origin`);
    }
    if (origin !== undefined) assertSessionId(origin);
    prefix = assertPrefix(flags.prefix ?? manifest?.settings.prefix ?? DEFAULT_PREFIX);
    event = createEvent({
      type,
      source: flags.source ?? "gateway-setup",
      payload: parsePayload(flags.payload),
      ...(origin ? { originSession: origin } : {}),
      ...(flags.id ? { id: flags.id } : {}),
    });
    serializeEvent(event);
    // GATEWAY_REDIS_URL as the extension reads it: a job that pi started pushes to the Redis that pi listens on
    const url = flags.redisUrl ?? env[ENV_REDIS_URL];
    target = url
      ? parseRedisUrl(url, env.GATEWAY_REDIS_PASSWORD)
      : manifest
        ? redisTargetFor(manifest, env)
        : parseRedisUrl("redis://127.0.0.1:6379", env.GATEWAY_REDIS_PASSWORD);
  } catch (error) {
    return fail(EXIT_USAGE, (error as Error).message);
  }
  const { probe, client } = await connectRedis(target);
  if (!client) {
    if (probe.status === "auth-required") {
      return fail(
        EXIT_FAILED,
        `Redis at ${target.host}:${target.port} requires a password and none was given (NOAUTH). Set GATEWAY_REDIS_PASSWORD to its password.`,
      );
    }
    return fail(EXIT_FAILED, "message" in probe ? probe.message : "Redis is not reachable");
  }
  try {
    // the installed session is where events go when Redis names no default session
    const pushed = await pushEvent(client, { prefix, event, ...(manifest ? { lastResortSession: manifest.settings.sessionId } : {}) });
    const notes = origin && !pushed.targets.some((t) => t.sessionId === origin) ? [originSkipped(origin, event.type)] : [];
    if (flags.json) process.stdout.write(JSON.stringify({ ok: true, ...pushed, ...(notes.length ? { notes } : {}) }, null, 2) + "\n");
    else {
      for (const t of pushed.targets) {
        process.stdout.write(`pushed ${event.type} ${event.id} to ${t.eventsKey} (${t.listeners} listening)\n`);
      }
      for (const note of notes) process.stderr.write(`gateway-setup push: ${note}\n`);
    }
    return EXIT_OK;
  } catch (error) {
    return fail(EXIT_FAILED, (error as Error).message);
  } finally {
    client.disconnect();
  }
}
