// Pushing one event to one session's queue, exactly as a shell producer does:
// LPUSH P:events:S <json> && PUBLISH P:notify:S <id>. route.ts decides which sessions get it.
import { bytesOverEventLimit, type GatewayEvent, MAX_EVENT_BYTES, validateEvent } from "./event.ts";
import { sessionKeys } from "./keys.ts";
import { LuaScript, type ScriptClient } from "./scripts.ts";

export interface PushTarget {
  prefix: string;
  sessionId: string;
  event: GatewayEvent;
}

/** An event as it goes on the wire; throws when it is invalid or larger than the drain accepts. */
export function serializeEvent(event: GatewayEvent): { event: GatewayEvent; payload: string } {
  const checked = validateEvent(event);
  if (!checked.ok) throw new Error(`refusing to push an invalid event: ${checked.reason}`);
  const payload = JSON.stringify(checked.event);
  const bytes = bytesOverEventLimit(payload);
  if (bytes !== undefined) throw new Error(`refusing to push event ${checked.event.id}: ${bytes} bytes is more than the ${MAX_EVENT_BYTES} a session accepts`);
  return { event: checked.event, payload };
}

// KEYS: events, notify. ARGV: payload, id. Returns the number of listeners.
const PUSH_SCRIPT = new LuaScript(`
redis.call('LPUSH', KEYS[1], ARGV[1])
return redis.call('PUBLISH', KEYS[2], ARGV[2])
`);

export async function pushToSession(redis: ScriptClient, { prefix, sessionId, event }: PushTarget): Promise<void> {
  const keys = sessionKeys(prefix, sessionId);
  const wire = serializeEvent(event);
  await PUSH_SCRIPT.run(redis, [keys.events, keys.notify], [wire.payload, wire.event.id]);
}
