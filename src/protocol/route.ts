// Routing: which sessions an event goes to. One implementation, used by `gateway-setup push`,
// exported for producers, and documented as its shell equivalent in the README.
//
//   heartbeats           -> the central session only
//   originSession given  -> that session (if it is alive) and the central session
//   anything else        -> the central session
// where "the central session" is `gateway` when it is alive, and otherwise the fallback queue
// (`main` for tier 1, or whatever the install consumes) so nothing is pushed where nobody reads.
import type { Redis } from "ioredis";
import { HEARTBEAT_EVENT_TYPE, validateEvent, type GatewayEvent } from "./event.ts";
import { aliveKey, sessionKeys, sessionsRegistryKey } from "./keys.ts";

export const CENTRAL_SESSION = "gateway";

export function routeTargets(event: Pick<GatewayEvent, "type" | "originSession">, live: ReadonlySet<string>, fallbackSession = "main"): string[] {
  const primary = live.has(CENTRAL_SESSION) ? CENTRAL_SESSION : fallbackSession;
  if (event.type === HEARTBEAT_EVENT_TYPE) return [primary];
  const origin = event.originSession;
  return origin && origin !== primary && live.has(origin) ? [origin, primary] : [primary];
}

/** Registered sessions whose liveness key has not expired. */
export async function liveSessions(redis: Redis, prefix: string): Promise<Set<string>> {
  const registered = await redis.smembers(sessionsRegistryKey(prefix));
  if (!registered.length) return new Set();
  const alive = await redis.mget(...registered.map((id) => aliveKey(prefix, id)));
  return new Set(registered.filter((_, i) => alive[i] !== null));
}

export interface RoutedPush {
  event: GatewayEvent;
  targets: { sessionId: string; eventsKey: string; listeners: number }[];
}

/** Routes and pushes one event (LPUSH + PUBLISH per target, in one MULTI). */
export async function pushEvent(redis: Redis, options: { prefix: string; event: GatewayEvent; fallbackSession?: string }): Promise<RoutedPush> {
  const checked = validateEvent(options.event);
  if (!checked.ok) throw new Error(`refusing to push an invalid event: ${checked.reason}`);
  const targets = routeTargets(checked.event, await liveSessions(redis, options.prefix), options.fallbackSession);
  const payload = JSON.stringify(checked.event);
  const multi = redis.multi();
  for (const sessionId of targets) {
    const keys = sessionKeys(options.prefix, sessionId);
    multi.lpush(keys.events, payload).publish(keys.notify, checked.event.id);
  }
  const replies = await multi.exec();
  const failed = replies?.find(([error]) => error);
  if (!replies || failed) throw new Error(`pushing ${checked.event.id} failed: ${failed?.[0]?.message ?? "transaction aborted"}`);
  return {
    event: checked.event,
    targets: targets.map((sessionId, i) => ({ sessionId, eventsKey: sessionKeys(options.prefix, sessionId).events, listeners: Number(replies[i * 2 + 1]![1]) })),
  };
}
