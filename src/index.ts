// Library entry: what producers and scripts can import from "gateway-setup".
export { createEvent, parseEvent, validateEvent, type GatewayEvent, type NewEventInput } from "./protocol/event.ts";
export { sessionKeys, sessionsRegistryKey, isValidSessionId, DEFAULT_PREFIX } from "./protocol/keys.ts";
export { pushToSession } from "./protocol/push.ts";
export { pushEvent, routeTargets, liveSessions, CENTRAL_SESSION, type RoutedPush } from "./protocol/route.ts";
