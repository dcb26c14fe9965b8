// The event schema of the wire protocol. Self-contained (copied into the installed extension).
import { isValidSessionId } from "./keys.ts";

export interface GatewayEvent {
  id: string;
  type: string;
  source: string;
  payload: Record<string, unknown>;
  /** epoch milliseconds */
  ts: number;
  originSession?: string;
}

export const MAX_EVENT_BYTES = 256 * 1024;
/** the heartbeat's event type (tier 2) */
export const HEARTBEAT_EVENT_TYPE = "cron.heartbeat";
const MAX_ID_LENGTH = 256;
const MAX_NAME_LENGTH = 128;

export type EventValidation =
  | { ok: true; event: GatewayEvent }
  | { ok: false; reason: string };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checkName(value: unknown, field: string, max: number): string | undefined {
  if (typeof value !== "string" || value.length === 0) return `"${field}" must be a non-empty string`;
  if (value.length > max) return `"${field}" is longer than ${max} characters`;
  return undefined;
}

/** Validates an already-parsed value against the event schema. */
export function validateEvent(value: unknown): EventValidation {
  if (!isPlainObject(value)) return { ok: false, reason: "event must be a JSON object" };
  const problem =
    checkName(value.id, "id", MAX_ID_LENGTH) ??
    checkName(value.type, "type", MAX_NAME_LENGTH) ??
    checkName(value.source, "source", MAX_NAME_LENGTH);
  if (problem) return { ok: false, reason: problem };
  if (!isPlainObject(value.payload)) return { ok: false, reason: `"payload" must be a JSON object` };
  if (typeof value.ts !== "number" || !Number.isFinite(value.ts) || value.ts <= 0) {
    return { ok: false, reason: `"ts" must be a positive epoch-milliseconds number` };
  }
  if (value.originSession !== undefined && !isValidSessionId(value.originSession)) {
    return { ok: false, reason: `"originSession" is not a valid session id` };
  }
  const event: GatewayEvent = {
    id: value.id as string,
    type: value.type as string,
    source: value.source as string,
    payload: value.payload,
    ts: value.ts,
  };
  if (value.originSession !== undefined) event.originSession = value.originSession as string;
  return { ok: true, event };
}

/** Parses one raw list entry as pushed by a producer. */
export function parseEvent(raw: string): EventValidation {
  if (Buffer.byteLength(raw, "utf8") > MAX_EVENT_BYTES) {
    return { ok: false, reason: `event is larger than ${MAX_EVENT_BYTES} bytes` };
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    return { ok: false, reason: `not valid JSON (${(error as Error).message})` };
  }
  return validateEvent(value);
}

export interface NewEventInput {
  type: string;
  source?: string;
  payload?: Record<string, unknown>;
  originSession?: string;
  id?: string;
  ts?: number;
}

/** Builds a complete event with a fresh id and the current time, then validates it. */
export function createEvent(input: NewEventInput, now: () => number = Date.now): GatewayEvent {
  const candidate = {
    id: input.id ?? globalThis.crypto.randomUUID(),
    type: input.type,
    source: input.source ?? "gateway-setup",
    payload: input.payload ?? {},
    ts: input.ts ?? now(),
    ...(input.originSession !== undefined ? { originSession: input.originSession } : {}),
  };
  const result = validateEvent(candidate);
  if (!result.ok) throw new Error(`invalid event: ${result.reason}`);
  return result.event;
}
