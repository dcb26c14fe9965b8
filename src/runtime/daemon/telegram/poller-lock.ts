// Exactly one poller per bot token: Telegram answers 409 to a second getUpdates, so a second
// daemon on the same token is refused up front. The lock expires unless refreshed, and a holder
// that died on this machine (kill -9, then a service restart) is taken over at once.
import type { Redis } from "ioredis";
import { type AliveRecord, isDeadHere, newOwner, parseAlive } from "../../protocol/sessions.ts";
import { pollerLockKey } from "./keys.ts";

export const POLLER_LOCK_TTL_MS = 30_000;

// KEYS: lock. ARGV: our record, our owner, ttl ms, the dead holder's exact record ('' for none).
// Takes the lock when free, ours already, or still held by that dead record.
const ACQUIRE_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[4] then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and type(decoded) == 'table' and decoded.owner and decoded.owner ~= ARGV[2] then return current end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[3]))
return 'ok'
`;

// KEYS: lock. ARGV: our owner. Deletes it only while it is ours.
const RELEASE_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local ok, decoded = pcall(cjson.decode, current)
if ok and type(decoded) == 'table' and decoded.owner == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export type LockResult = { ok: true } | { ok: false; holder: string };

export class PollerLock {
  private readonly key: string;
  private readonly record: AliveRecord = newOwner(Date.now());

  constructor(
    private readonly redis: Redis,
    prefix: string,
    token: string,
    private readonly ttlMs = POLLER_LOCK_TTL_MS,
  ) {
    this.key = pollerLockKey(prefix, token);
  }

  /** Takes or refreshes the lock; says who holds it otherwise ("host/pid"). */
  async acquire(): Promise<LockResult> {
    const currentRaw = await this.redis.get(this.key);
    const current = parseAlive(currentRaw);
    const deadRecord = current && current.owner !== this.record.owner && isDeadHere(current) ? (currentRaw ?? "") : "";
    const reply = (await this.redis.eval(
      ACQUIRE_SCRIPT,
      1,
      this.key,
      JSON.stringify(this.record),
      this.record.owner,
      String(this.ttlMs),
      deadRecord,
    )) as string;
    if (reply === "ok") return { ok: true };
    const holder = parseAlive(reply);
    return { ok: false, holder: holder ? `${holder.host}/${holder.pid}` : "an unknown process" };
  }

  async release(): Promise<void> {
    await this.redis.eval(RELEASE_SCRIPT, 1, this.key, this.record.owner);
  }
}
