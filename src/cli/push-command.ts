// `gateway-setup push <type>`: validate one event, route it, push it, say where it went.
import { join } from "node:path";
import { connectRedis } from "../components/redis/probe.ts";
import { parseRedisUrl, type RedisTarget } from "../components/redis/url.ts";
import { redisTargetFor } from "../doctor/run-doctor.ts";
import { readManifest } from "../install/manifest.ts";
import { gatewayStateDir } from "../platform/paths.ts";
import { MANIFEST_FILE_NAME } from "../plan/build-plan.ts";
import { createEvent } from "../protocol/event.ts";
import { assertPrefix, assertSessionId, DEFAULT_PREFIX } from "../protocol/keys.ts";
import { serializeEvent } from "../protocol/push.ts";
import { pushEvent } from "../protocol/route.ts";
import { ENV_REDIS_URL } from "../extension/config.ts";
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

export async function runPushCommand(type: string, flags: PushFlags, env = process.env): Promise<number> {
  const fail = (code: number, message: string) => {
    if (flags.json) process.stdout.write(JSON.stringify({ ok: false, error: message }, null, 2) + "\n");
    else process.stderr.write(`gateway-setup push: ${message}\n`);
    return code;
  };
  const manifest = readManifest(join(gatewayStateDir(env), MANIFEST_FILE_NAME));
  let event;
  let prefix: string;
  let target: RedisTarget;
  // inside a pi session (its bash tool), the session's own id is the natural origin
  const origin = flags.origin ?? env.GATEWAY_SESSION_ID;
  try {
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
      return fail(EXIT_FAILED, `Redis at ${target.host}:${target.port} requires a password and none was given (NOAUTH). Set GATEWAY_REDIS_PASSWORD to its password.`);
    }
    return fail(EXIT_FAILED, "message" in probe ? probe.message : "Redis is not reachable");
  }
  try {
    // the installed session is where events go when Redis names no default session
    const pushed = await pushEvent(client, { prefix, event, ...(manifest ? { lastResortSession: manifest.settings.sessionId } : {}) });
    if (flags.json) process.stdout.write(JSON.stringify({ ok: true, ...pushed }, null, 2) + "\n");
    else {
      for (const t of pushed.targets) {
        process.stdout.write(`pushed ${event.type} ${event.id} to ${t.eventsKey} (${t.listeners} listening)\n`);
      }
    }
    return EXIT_OK;
  } catch (error) {
    return fail(EXIT_FAILED, (error as Error).message);
  } finally {
    client.disconnect();
  }
}
