// The event schema of the wire protocol. Self-contained (copied into the installed extension).
import { isValidSessionId } from "./keys.ts";
import { randomUuid } from "./random-id.ts";

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
/** the installer's check of a live session: acknowledged by the session, never shown to the model */
export const SMOKE_EVENT_TYPE = "gateway.smoke";
/** the heartbeat's event type (tier 2) */
export const HEARTBEAT_EVENT_TYPE = "cron.heartbeat";
const MAX_ID_LENGTH = 256;
const MAX_NAME_LENGTH = 128;
/** the largest epoch-ms a Date can hold; beyond it the event cannot be shown with a time */
const MAX_TS = 8.64e15;
/** deeper payloads cannot be rendered back to text without exhausting the stack */
export const MAX_PAYLOAD_DEPTH = 64;
/** a line break or other control character in a header field could forge event boundaries in the prompt */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is what it is for
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

export type EventValidation = { ok: true; event: GatewayEvent } | { ok: false; reason: string };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checkName(value: unknown, field: string, max: number): string | undefined {
  if (typeof value !== "string" || value.length === 0) return `"${field}" must be a non-empty string`;
  if (value.length > max) return `"${field}" is longer than ${max} characters`;
  if (CONTROL_CHARACTER.test(value)) return `"${field}" contains a control character`;
  return undefined;
}

/** Depth of nested objects and arrays, counted without recursion (a hostile payload may be very deep). */
function exceedsDepth(value: unknown, limit: number): boolean {
  let level: unknown[] = [value];
  for (let depth = 0; level.length; depth++) {
    if (depth > limit) return true;
    const next: unknown[] = [];
    for (const item of level) {
      if (item && typeof item === "object") for (const child of Object.values(item as object)) next.push(child);
    }
    level = next;
  }
  return false;
}

/** Validates an already-parsed value against the event schema. */
export function validateEvent(value: unknown): EventValidation {
  if (!isPlainObject(value)) return { ok: false, reason: "event must be a JSON object" };
  const problem =
    checkName(value.id, "id", MAX_ID_LENGTH) ?? checkName(value.type, "type", MAX_NAME_LENGTH) ?? checkName(value.source, "source", MAX_NAME_LENGTH);
  if (problem) return { ok: false, reason: problem };
  if (!isPlainObject(value.payload)) return { ok: false, reason: `"payload" must be a JSON object` };
  if (exceedsDepth(value.payload, MAX_PAYLOAD_DEPTH)) return { ok: false, reason: `"payload" is nested deeper than ${MAX_PAYLOAD_DEPTH} levels` };
  if (typeof value.ts !== "number" || !Number.isFinite(value.ts) || value.ts <= 0 || value.ts > MAX_TS) {
    return { ok: false, reason: `"ts" must be a positive epoch-milliseconds number (at most ${MAX_TS})` };
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

/**
 * The size in UTF-8 of a text larger than MAX_EVENT_BYTES, undefined for one within it. UTF-8 takes
 * at most three bytes per UTF-16 unit, so most texts need no count.
 */
export function bytesOverEventLimit(text: string): number | undefined {
  if (text.length * 3 <= MAX_EVENT_BYTES) return undefined;
  const bytes = Buffer.byteLength(text, "utf8");
  return bytes > MAX_EVENT_BYTES ? bytes : undefined;
}

/** Parses one raw list entry as pushed by a producer. */
export function parseEvent(raw: string): EventValidation {
  if (bytesOverEventLimit(raw) !== undefined) {
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
    id: input.id ?? randomUuid(),
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
