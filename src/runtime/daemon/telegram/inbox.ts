// Telegram inputs are durable until answered: each is in the Redis inbox before grammY may confirm
// its update to Telegram, and leaves it only when the daemon acknowledges the reply.
import type { Redis } from "ioredis";
import { randomUuid } from "../../protocol/random-id.ts";
import { LuaScript } from "../../protocol/scripts.ts";
import type { DaemonInput } from "../types.ts";
import { type TelegramKeys, telegramKeys } from "./keys.ts";

/** Telegram re-serves an unconfirmed update for up to a day: remember handled ones a bit longer. */
export const HANDLED_TTL_SECONDS = 2 * 24 * 3600;

// KEYS: handled marker, inbox. ARGV: this attempt's token, ttl, the input's json ('' for an update
// that is no input). Handles an update once: the marker, set only after the push worked (a script
// that fails midway keeps what it did), holds the token of the attempt that handled it. ioredis
// sends a command again when a broken connection lost its reply, and that same attempt must hear
// that it succeeded; a re-served update, a new attempt, hears that it was handled before.
const HANDLE = new LuaScript(`
local marker = redis.call('GET', KEYS[1])
if marker then return marker == ARGV[1] and 1 or 0 end
if ARGV[3] ~= '' then redis.call('RPUSH', KEYS[2], ARGV[3]) end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
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
  persist(input: DaemonInput, updateId: number): Promise<boolean> {
    return this.handle(updateId, JSON.stringify(input));
  }

  /** Marks an update that is not an input (a command) as handled; false when it was before. */
  markHandled(updateId: number): Promise<boolean> {
    return this.handle(updateId, "");
  }

  private async handle(updateId: number, input: string): Promise<boolean> {
    const keys = [`${this.keys.handledPrefix}${updateId}`, this.keys.inbox];
    return (await HANDLE.run(this.redis, keys, [randomUuid(), String(HANDLED_TTL_SECONDS), input])) === 1;
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
}
