// Library entry: what producers and scripts can import from "gateway-setup". Every function that
// talks to Redis takes any client with `eval`/`evalsha` (ioredis 5 or 6 as they are).
export { createEvent, type GatewayEvent, MAX_EVENT_BYTES, type NewEventInput, parseEvent, validateEvent } from "./runtime/protocol/event.ts";
export { DEFAULT_PREFIX, defaultSessionKey, isValidSessionId, sessionKeys, sessionsRegistryKey } from "./runtime/protocol/keys.ts";
export { type PushTarget, pushToSession } from "./runtime/protocol/push.ts";
export { CENTRAL_SESSION, liveSessions, type PushEventOptions, pushEvent, type RoutedPush, routeTargets } from "./runtime/protocol/route.ts";
export type { ScriptClient } from "./runtime/protocol/scripts.ts";
