// Pushing one event to one session's queue, exactly as a shell producer does:
// LPUSH P:events:S <json> && PUBLISH P:notify:S <id>. route.ts decides which sessions get it.
import type { Redis } from "ioredis";
import { validateEvent, type GatewayEvent } from "./event.ts";
import { sessionKeys } from "./keys.ts";

export interface PushTarget {
  prefix: string;
  sessionId: string;
  event: GatewayEvent;
}

export async function pushToSession(redis: Redis, { prefix, sessionId, event }: PushTarget): Promise<void> {
  const checked = validateEvent(event);
  if (!checked.ok) throw new Error(`refusing to push an invalid event: ${checked.reason}`);
  const keys = sessionKeys(prefix, sessionId);
  // a pipeline, like `LPUSH ... && PUBLISH ...`: the push lands first; a lost PUBLISH only delays
  // delivery until the session's next poll
  const replies = await redis.pipeline().lpush(keys.events, JSON.stringify(checked.event)).publish(keys.notify, checked.event.id).exec();
  const failed = replies?.find(([error]) => error);
  if (!replies || failed) throw new Error(`pushing to ${keys.events} failed: ${failed?.[0]?.message ?? "transaction aborted"}`);
}
