// Library entry: what producers and scripts can import from "gateway-setup". Every function that
// talks to Redis takes any client with `eval`/`evalsha` (ioredis 5 or 6 as they are).
export { createEvent, parseEvent, validateEvent, MAX_EVENT_BYTES, type GatewayEvent, type NewEventInput } from "./runtime/protocol/event.ts";
export { sessionKeys, sessionsRegistryKey, defaultSessionKey, isValidSessionId, DEFAULT_PREFIX } from "./runtime/protocol/keys.ts";
export { pushToSession, type PushTarget } from "./runtime/protocol/push.ts";
export { pushEvent, routeTargets, liveSessions, CENTRAL_SESSION, type RoutedPush, type PushEventOptions } from "./runtime/protocol/route.ts";
export type { ScriptClient } from "./runtime/protocol/scripts.ts";
