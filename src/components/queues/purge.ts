// `uninstall --purge-queues`: delete a session's protocol keys. Without it, queued events stay.
import type { RedisClient } from "../../core/redis.ts";
import { defaultSessionKey, sessionKeys, sessionStateKeys, sessionsRegistryKey } from "../../runtime/protocol/keys.ts";

export async function purgeSessionKeys(redis: RedisClient, prefix: string, sessionId: string): Promise<number> {
  const keys = sessionKeys(prefix, sessionId);
  const seen: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", `${keys.seenPrefix}*`, "COUNT", 1000);
    cursor = next;
    seen.push(...batch);
  } while (cursor !== "0");
  const targets = [...sessionStateKeys(prefix, sessionId), ...seen];
  let deleted = 0;
  for (let i = 0; i < targets.length; i += 500) deleted += await redis.del(...targets.slice(i, i + 500));
  await redis.srem(sessionsRegistryKey(prefix), sessionId);
  // routing's fallback, if it still names this session
  deleted += (await redis.eval(
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
    1,
    defaultSessionKey(prefix),
    sessionId,
  )) as number;
  return deleted;
}
