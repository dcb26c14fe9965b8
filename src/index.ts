// Library entry: what producers and scripts can import from "gateway-setup".
export { createEvent, parseEvent, validateEvent, type GatewayEvent, type NewEventInput } from "./protocol/event.ts";
export { sessionKeys, sessionsRegistryKey, isValidSessionId, DEFAULT_PREFIX } from "./protocol/keys.ts";
export { pushEvent } from "./protocol/push.ts";
