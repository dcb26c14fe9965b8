// Routing: which sessions an event goes to. One implementation, used by `gateway-setup push`,
// exported for producers, and documented as its shell equivalent in the README.
//
//   heartbeats           -> the primary session only
//   originSession given  -> that session (if it is alive) and the primary session
//   anything else        -> the primary session
// where the primary session is `gateway` (central) when it is alive, otherwise the explicit
// fallback, otherwise the session named by `<prefix>:gateway:default` (set by the installed
// session when it claims its id), otherwise `main`: nothing is pushed where nobody reads.
// The decision and the pushes happen in one Lua script (one round trip, atomic).
import { type GatewayEvent, HEARTBEAT_EVENT_TYPE } from "./event.ts";
import { aliveKey, assertPrefix, assertSessionId, sessionKeys, sessionsRegistryKey } from "./keys.ts";
import { serializeEvent } from "./push.ts";
import { registeredSessions } from "./registry-scripts.ts";
import { LuaScript, ROUTING_LUA, type ScriptClient } from "./scripts.ts";
import { isSessionGone } from "./sessions.ts";

export const CENTRAL_SESSION = "gateway";
const LAST_RESORT_SESSION = "main";

/** The routing rule on a known set of live sessions (the script below applies it inside Redis). */
export function routeTargets(event: Pick<GatewayEvent, "type" | "originSession">, live: ReadonlySet<string>, fallbackSession = LAST_RESORT_SESSION): string[] {
  const primary = live.has(CENTRAL_SESSION) ? CENTRAL_SESSION : fallbackSession;
  if (event.type === HEARTBEAT_EVENT_TYPE) return [primary];
  const origin = event.originSession;
  return origin && origin !== primary && live.has(origin) ? [origin, primary] : [primary];
}

/** Registered sessions that are alive (the liveness key exists and its owner is not a dead process on this machine). */
export async function liveSessions(redis: ScriptClient, prefix: string): Promise<Set<string>> {
  return new Set((await registeredSessions(redis, prefix)).filter((s) => !isSessionGone(s.record)).map((s) => s.id));
}

// KEYS: registry, alive key of the origin. ARGV: origin. Returns the origin's liveness record if it is registered.
const ORIGIN_SCRIPT = new LuaScript(`
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return false end
return redis.call('GET', KEYS[2])
`);

// ARGV: prefix, payload, id, origin ('' = none), explicit fallback ('' = none), last resort.
// Returns { session, listeners, session, listeners, ... } in push order.
const ROUTE_AND_PUSH_SCRIPT = new LuaScript(`${ROUTING_LUA}
local prefix, payload, id, origin = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local first = primary(prefix, ARGV[5], ARGV[6])
local targets = { first }
if origin ~= '' and origin ~= first and registered_and_alive(prefix, origin) then targets = { origin, first } end
local reply = {}
for _, session in ipairs(targets) do
  redis.call('LPUSH', prefix .. ':events:' .. session, payload)
  reply[#reply + 1] = session
  reply[#reply + 1] = redis.call('PUBLISH', prefix .. ':notify:' .. session, id)
end
return reply
`);

export interface RoutedPush {
  event: GatewayEvent;
  targets: { sessionId: string; eventsKey: string; listeners: number }[];
}

export interface PushEventOptions {
  prefix: string;
  event: GatewayEvent;
  /** consume here when central is not alive, whatever the default key says */
  fallbackSession?: string;
  /** when neither central nor the default key names a session (default `main`) */
  lastResortSession?: string;
}

/** An origin is a target only while alive by the same test as liveSessions (its dead-here owner excluded). */
async function usableOrigin(redis: ScriptClient, prefix: string, event: GatewayEvent): Promise<string> {
  const origin = event.originSession;
  if (!origin || origin === CENTRAL_SESSION || event.type === HEARTBEAT_EVENT_TYPE) return "";
  const record = (await ORIGIN_SCRIPT.run(redis, [sessionsRegistryKey(prefix), aliveKey(prefix, origin)], [origin])) as string | null;
  return isSessionGone(record ?? null) ? "" : origin;
}

/** Routes and pushes one event: LPUSH + PUBLISH per target, decided and done in one script. */
export async function pushEvent(redis: ScriptClient, options: PushEventOptions): Promise<RoutedPush> {
  const prefix = assertPrefix(options.prefix);
  const fallback = options.fallbackSession === undefined ? "" : assertSessionId(options.fallbackSession);
  const lastResort = assertSessionId(options.lastResortSession ?? LAST_RESORT_SESSION);
  const { event, payload } = serializeEvent(options.event);
  const origin = await usableOrigin(redis, prefix, event);
  const reply = (await ROUTE_AND_PUSH_SCRIPT.run(redis, [], [prefix, payload, event.id, origin, fallback, lastResort])) as (string | number)[];
  const targets: RoutedPush["targets"] = [];
  for (let i = 0; i < reply.length; i += 2) {
    const sessionId = String(reply[i]);
    targets.push({ sessionId, eventsKey: sessionKeys(prefix, sessionId).events, listeners: Number(reply[i + 1]) });
  }
  return { event, targets };
}
