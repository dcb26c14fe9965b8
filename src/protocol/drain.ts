// The drain algorithm. One consumer per session id (tier 1: the one pi on `main`; later tiers
// give every session its own id), so the `processing` list belongs to that consumer alone.
//
//   claim:  atomically move up to N events from `events` (tail = oldest) onto `processing` and
//           read `processing` back: a producer's LPUSH mid-drain just stays in `events`, and a
//           batch left in `processing` by a crash is returned again on the next claim. The same
//           script says which ids were already delivered (one round trip for both).
//   hand off: valid, not-yet-seen events go to pi in one call.
//   ack:    only after the hand-off returned: mark ids seen (TTL), dead-letter malformed entries
//           and clear `processing`, in one MULTI. If the hand-off throws nothing is acknowledged.
import type { Redis } from "ioredis";
import { parseEvent, type GatewayEvent } from "./event.ts";
import type { SessionKeys } from "./keys.ts";

// KEYS: events, processing. ARGV: max batch, seen-key prefix.
// Returns { processing entries (newest first), 1/0 per entry: its id was seen before }.
const CLAIM_SCRIPT = `
local held = redis.call('LLEN', KEYS[2])
local max = tonumber(ARGV[1])
while held < max do
  if not redis.call('RPOPLPUSH', KEYS[1], KEYS[2]) then break end
  held = held + 1
end
local entries = redis.call('LRANGE', KEYS[2], 0, -1)
local seen = {}
for i, raw in ipairs(entries) do
  local ok, event = pcall(cjson.decode, raw)
  if ok and type(event) == 'table' and type(event.id) == 'string' then
    seen[i] = redis.call('EXISTS', ARGV[2] .. event.id)
  else
    seen[i] = 0
  end
end
return { entries, seen }
`;

export interface DeadLetter {
  raw: string;
  reason: string;
  /** epoch ms */
  at: number;
}

export interface DrainOptions {
  maxBatch: number;
  dedupeTtlSeconds: number;
  /** hands the batch to pi; throwing leaves the batch unacknowledged */
  handOff(events: GatewayEvent[]): Promise<void> | void;
  now?: () => number;
}

export interface DrainResult {
  claimed: number;
  delivered: GatewayEvent[];
  duplicates: number;
  deadLettered: DeadLetter[];
  /** events still waiting in the queue after this drain */
  remaining: number;
}

export interface ClaimedEntry {
  raw: string;
  /** the entry's id was delivered before (as far as Redis remembers) */
  seen: boolean;
}

/** Claimed raw entries, oldest first. */
export async function claimBatch(redis: Redis, keys: SessionKeys, maxBatch: number): Promise<ClaimedEntry[]> {
  const [entries, seen] = (await redis.eval(CLAIM_SCRIPT, 2, keys.events, keys.processing, String(maxBatch), keys.seenPrefix)) as [string[], number[]];
  return entries.map((raw, i) => ({ raw, seen: seen[i] === 1 })).reverse();
}

export async function drainOnce(redis: Redis, keys: SessionKeys, options: DrainOptions): Promise<DrainResult> {
  const now = options.now ?? Date.now;
  const claimed = await claimBatch(redis, keys, options.maxBatch);
  const result: DrainResult = { claimed: claimed.length, delivered: [], duplicates: 0, deadLettered: [], remaining: 0 };
  if (!claimed.length) return result;

  const batchIds = new Set<string>();
  for (const { raw, seen } of claimed) {
    const parsed = parseEvent(raw);
    if (!parsed.ok) result.deadLettered.push({ raw, reason: parsed.reason, at: now() });
    else if (seen || batchIds.has(parsed.event.id)) result.duplicates++;
    else {
      batchIds.add(parsed.event.id);
      result.delivered.push(parsed.event);
    }
  }

  if (result.delivered.length) await options.handOff(result.delivered);

  const ack = redis.multi();
  for (const event of result.delivered) ack.set(keys.seenPrefix + event.id, String(now()), "EX", options.dedupeTtlSeconds);
  for (const letter of result.deadLettered) ack.lpush(keys.deadLetter, JSON.stringify(letter));
  ack.del(keys.processing);
  ack.llen(keys.events);
  const replies = await ack.exec();
  const failed = replies?.find(([error]) => error);
  if (!replies || failed) throw new Error(`acknowledging the batch failed: ${failed?.[0]?.message ?? "transaction aborted"}`);
  result.remaining = Number(replies[replies.length - 1]![1]);
  return result;
}
