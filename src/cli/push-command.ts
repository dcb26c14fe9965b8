// `gateway-setup push <type>`: validate one event, route it, push it, say where it went.

import { createReadStream } from "node:fs";
import type { RedisConnection } from "../components/redis/connection.ts";
import { redisTargetFor } from "../components/redis/installed-target.ts";
import { diagnose, openRedis } from "../components/redis/probe.ts";
import { parseRedisUrl } from "../components/redis/url.ts";
import type { Manifest } from "../core/manifest.ts";
import type { RedisTarget } from "../core/redis.ts";
import { ManifestError, readManifest } from "../install/manifest.ts";
import { installedManifestPath } from "../platform/paths.ts";
import { ENV_REDIS_URL } from "../runtime/extension/config.ts";
import { createEvent, type GatewayEvent, HEARTBEAT_EVENT_TYPE, MAX_EVENT_BYTES } from "../runtime/protocol/event.ts";
import { assertPrefix, assertSessionId, DEFAULT_PREFIX, isValidSessionId } from "../runtime/protocol/keys.ts";
import { serializeEvent } from "../runtime/protocol/push.ts";
import { pushEvent } from "../runtime/protocol/route.ts";
import { writeToStandardOutput } from "./closed-reader.ts";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "./exit-codes.ts";
import { writeErrorReport } from "./json-error.ts";

export interface PushFlags {
  /** the JSON itself, or `-` for standard input */
  payload?: string;
  payloadFile?: string;
  source?: string;
  origin?: string;
  id?: string;
  redisUrl?: string;
  prefix?: string;
  json?: boolean;
}

class PushUsageError extends Error {}

function parsePayload(text: string | undefined, from: string): Record<string, unknown> {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new PushUsageError(`${from} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new PushUsageError(`${from} must be a JSON object, e.g. '{"ok":true}'`);
  return value as Record<string, unknown>;
}

/**
 * The payload's text and where it came from: --payload <json>, --payload - (standard input) or
 * --payload-file <path>, for payloads larger than a command line takes. Read no further than the
 * protocol allows an event to be.
 */
async function payloadText(flags: PushFlags): Promise<{ text?: string; from: string }> {
  if (flags.payload !== undefined && flags.payloadFile !== undefined) throw new PushUsageError("give --payload or --payload-file, not both");
  if (flags.payloadFile !== undefined) return { text: await readAtMost(createReadStream(flags.payloadFile), flags.payloadFile), from: "--payload-file" };
  if (flags.payload === "-") return { text: await readAtMost(process.stdin, "standard input"), from: "the payload on standard input" };
  return { ...(flags.payload !== undefined ? { text: flags.payload } : {}), from: "--payload" };
}

async function readAtMost(stream: NodeJS.ReadableStream, what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const chunk of stream) {
      const buffer = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
      bytes += buffer.length;
      if (bytes > MAX_EVENT_BYTES) throw new PushUsageError(`the payload in ${what} is larger than the ${MAX_EVENT_BYTES} bytes an event may be`);
      chunks.push(buffer);
    }
  } catch (error) {
    if (error instanceof PushUsageError) throw error;
    throw new PushUsageError(`cannot read the payload from ${what}: ${(error as Error).message}`);
  } finally {
    if ("destroy" in stream && stream !== process.stdin) (stream as { destroy(): void }).destroy();
  }
  return Buffer.concat(chunks).toString("utf8");
}

function originSkipped(origin: string, type: string): string {
  return type === HEARTBEAT_EVENT_TYPE
    ? `heartbeats go to the central session only, not to the origin "${origin}"`
    : `the origin "${origin}" is not a live session here, so it did not get the event`;
}

export async function runPushCommand(type: string, flags: PushFlags, env = process.env): Promise<number> {
  const fail = (code: number, message: string, fix?: string) => {
    if (flags.json) writeErrorReport(message, fix);
    else process.stderr.write(`gateway-setup push: ${message}\n${fix ? `  fix: ${fix}\n` : ""}`);
    return code;
  };
  let manifest: Manifest | undefined;
  try {
    manifest = readManifest(installedManifestPath(env));
  } catch (error) {
    if (!(error instanceof ManifestError)) throw error;
    return fail(EXIT_FAILED, error.message, error.fix);
  }
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
    const payload = await payloadText(flags);
    event = createEvent({
      type,
      source: flags.source ?? "gateway-setup",
      payload: parsePayload(payload.text, payload.from),
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
  // in the probe's words, which name the server: "Connection is closed." alone does not say where
  const redisFailed = (error: unknown) => {
    const probe = diagnose(target, error as Error);
    return fail(EXIT_FAILED, probe.status === "auth-required" ? `${probe.message} Set GATEWAY_REDIS_PASSWORD to its password.` : probe.message);
  };
  // no PING first: the push is the first command, and its error says what a PING's would
  let client: RedisConnection;
  try {
    client = await openRedis(target);
  } catch (error) {
    return redisFailed(error);
  }
  try {
    // the installed session is where events go when Redis names no default session
    const pushed = await pushEvent(client, { prefix, event, ...(manifest ? { lastResortSession: manifest.settings.sessionId } : {}) });
    const notes = origin && !pushed.targets.some((t) => t.sessionId === origin) ? [originSkipped(origin, event.type)] : [];
    if (flags.json) writeToStandardOutput(JSON.stringify({ ok: true, ...pushed, ...(notes.length ? { notes } : {}) }, null, 2) + "\n");
    else {
      writeToStandardOutput(pushed.targets.map((t) => `pushed ${event.type} ${event.id} to ${t.eventsKey} (${t.listeners} listening)\n`).join(""));
      for (const note of notes) process.stderr.write(`gateway-setup push: ${note}\n`);
    }
    return EXIT_OK;
  } catch (error) {
    return redisFailed(error);
  } finally {
    client.disconnect();
  }
}
