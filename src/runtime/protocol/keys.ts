// Redis key names of the wire protocol (see DESIGN.md). Self-contained: this folder is also
// copied into the installed pi extension, so it imports nothing outside itself.

export const DEFAULT_PREFIX = "agent";
export const SESSION_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export const PREFIX_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export function isValidSessionId(id: unknown): id is string {
  return typeof id === "string" && SESSION_ID_PATTERN.test(id);
}

export function assertSessionId(id: unknown): string {
  if (!isValidSessionId(id)) {
    throw new Error(`invalid session id ${JSON.stringify(id)}: use 1-64 characters from A-Z a-z 0-9 . _ -`);
  }
  return id;
}

export function assertPrefix(prefix: unknown): string {
  if (typeof prefix !== "string" || !PREFIX_PATTERN.test(prefix)) {
    throw new Error(`invalid key prefix ${JSON.stringify(prefix)}: use 1-64 characters from A-Z a-z 0-9 . _ -`);
  }
  return prefix;
}

export interface SessionKeys {
  /** list: producers LPUSH JSON events, oldest at the tail */
  events: string;
  /** pub/sub channel: producers PUBLISH after pushing */
  notify: string;
  /** list: events claimed by a drain and not yet acknowledged (recovered on next start) */
  processing: string;
  /** list: malformed events with the reason they were rejected */
  deadLetter: string;
  /** prefix of per-event de-duplication keys (`<seenPrefix><id>`, with a TTL) */
  seenPrefix: string;
  /** string: the token of the last acknowledgement applied (with a TTL), so one sent again after a lost reply is not applied twice */
  lastAck: string;
}

export function sessionKeys(prefix: string, sessionId: string): SessionKeys {
  assertPrefix(prefix);
  assertSessionId(sessionId);
  const base = `${prefix}`;
  return {
    events: `${base}:events:${sessionId}`,
    notify: `${base}:notify:${sessionId}`,
    processing: `${base}:processing:${sessionId}`,
    deadLetter: `${base}:deadletter:${sessionId}`,
    seenPrefix: `${base}:seen:${sessionId}:`,
    lastAck: `${base}:lastack:${sessionId}`,
  };
}

/** Every key of one session's state but its seen marks (`seenPrefix`): what removing the session deletes. */
export function sessionStateKeys(prefix: string, sessionId: string): string[] {
  const keys = sessionKeys(prefix, sessionId);
  return [keys.events, keys.processing, keys.deadLetter, keys.lastAck, aliveKey(prefix, sessionId)];
}

/** set of live session ids */
export function sessionsRegistryKey(prefix: string): string {
  return `${assertPrefix(prefix)}:gateway:sessions`;
}

/**
 * the session id that consumes events when no central session is alive: set (no TTL) by the
 * installed single/central session when it claims its id, read by routing; absent means `main`
 */
export function defaultSessionKey(prefix: string): string {
  return `${assertPrefix(prefix)}:gateway:default`;
}

/** liveness of a session: JSON {pid, startedAt} with a TTL the session keeps refreshing */
export function aliveKey(prefix: string, sessionId: string): string {
  return `${assertPrefix(prefix)}:gateway:alive:${assertSessionId(sessionId)}`;
}

/** set by a live session when it received a `gateway.smoke` event */
export function smokeAckKey(prefix: string, eventId: string): string {
  return `${assertPrefix(prefix)}:ack:${eventId}`;
}
