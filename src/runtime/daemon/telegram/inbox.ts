// Telegram inputs are durable until answered: each is in the Redis inbox before grammY may confirm
// its update to Telegram, and leaves it only when the daemon acknowledges the reply.
import type { Redis } from "ioredis";
import { LuaScript } from "../../protocol/scripts.ts";
import type { DaemonInput } from "../types.ts";
import { type TelegramKeys, telegramKeys } from "./keys.ts";

/** Telegram re-serves an unconfirmed update for up to a day: remember handled ones a bit longer. */
export const HANDLED_TTL_SECONDS = 2 * 24 * 3600;

// KEYS: handled marker, inbox. ARGV: input json, ttl. Persists once per update; the marker is set
// only after the push worked (a script that fails midway keeps what it did).
const PERSIST = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('SET', KEYS[1], '1', 'EX', tonumber(ARGV[2]))
return 1
`);

// KEYS: inbox. ARGV: input id. Removes the entries with that id.
const REMOVE = new LuaScript(`
local removed = 0
for _, raw in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local ok, input = pcall(cjson.decode, raw)
  if ok and type(input) == 'table' and input.id == ARGV[1] then
    removed = removed + redis.call('LREM', KEYS[1], 1, raw)
  end
end
return removed
`);

export class TelegramInbox {
  private readonly keys: TelegramKeys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = telegramKeys(prefix);
  }

  /** Persists the input of an update; false when that update was handled before (Telegram re-served it). */
  async persist(input: DaemonInput, updateId: number): Promise<boolean> {
    return (await PERSIST.run(this.redis, [this.handledKey(updateId), this.keys.inbox], [JSON.stringify(input), String(HANDLED_TTL_SECONDS)])) === 1;
  }

  /** Marks an update that is not an input (a command) as handled; false when it was before. */
  async markHandled(updateId: number): Promise<boolean> {
    return (await this.redis.set(this.handledKey(updateId), "1", "EX", HANDLED_TTL_SECONDS, "NX")) === "OK";
  }

  async pending(): Promise<DaemonInput[]> {
    const raw = await this.redis.lrange(this.keys.inbox, 0, -1);
    return raw.flatMap((entry) => {
      try {
        return [JSON.parse(entry) as DaemonInput];
      } catch {
        return [];
      }
    });
  }

  async remove(input: DaemonInput): Promise<void> {
    await REMOVE.run(this.redis, [this.keys.inbox], [input.id]);
  }

  private handledKey(updateId: number): string {
    return `${this.keys.handledPrefix}${updateId}`;
  }
}
