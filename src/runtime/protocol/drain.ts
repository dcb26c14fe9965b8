// The drain algorithm. One consumer per session id (tier 1: the one pi on `main`; later tiers
// give every session its own id), so the `processing` list belongs to that consumer alone.
//
//   claim:  atomically move events from `events` (tail = oldest) onto `processing`, up to N events
//           and a byte budget, and read `processing` back: a producer's LPUSH mid-drain just stays
//           in `events`, and a batch left in `processing` by a crash is returned again on the next
//           claim. The script touches only the keys it is given.
//   check:  parse every entry here (the one parser that decides what an id is) and ask Redis which
//           ids were delivered before.
//   hand off: valid, not-yet-seen events go to pi in one call, which resolves once pi took them.
//           Events this consumer already handed off, whose ack did not land (Redis went away for
//           longer than the client retries), are not handed off again: they are only acknowledged.
//   ack:    only after the hand-off resolved: mark ids seen (TTL), dead-letter malformed entries
//           (capped: dead-letter.ts) and clear `processing`, in one script (atomic, one command however large the batch).
//           If the hand-off throws nothing is acknowledged.
import type { Redis } from "ioredis";
import { type DeadLetter, deadLetterFor, MAX_DEAD_LETTERS } from "./dead-letter.ts";
import { type GatewayEvent, parseEvent } from "./event.ts";
import { aliveKey, type SessionKeys } from "./keys.ts";
import { LuaScript } from "./scripts.ts";
import { isSessionGone } from "./sessions.ts";

// KEYS: events, processing. ARGV: max batch, byte budget. Returns the processing entries, newest first.
// The first event always moves, however large, so one big event cannot block the queue.
const CLAIM_SCRIPT = `
local max = tonumber(ARGV[1])
local budget = tonumber(ARGV[2])
local held = redis.call('LRANGE', KEYS[2], 0, -1)
local count = #held
local bytes = 0
for _, raw in ipairs(held) do bytes = bytes + #raw end
while count < max do
  local oldest = redis.call('LINDEX', KEYS[1], -1)
  if not oldest then break end
  if count > 0 and bytes + #oldest > budget then break end
  redis.call('RPOPLPUSH', KEYS[1], KEYS[2])
  count = count + 1
  bytes = bytes + #oldest
end
return redis.call('LRANGE', KEYS[2], 0, -1)
`;

// KEYS: processing, dead letters, events. ARGV: seen-key prefix, TTL, now, how many dead letters
// to keep, how many ids follow, the delivered ids, then the dead letters. Returns how many events still wait.
const ACK_SCRIPT = new LuaScript(`
local prefix, ttl, now, keep, ids = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
for i = 6, 5 + ids do redis.call('SET', prefix .. ARGV[i], now, 'EX', ttl) end
if #ARGV > 5 + ids then
  for i = 6 + ids, #ARGV do redis.call('LPUSH', KEYS[2], ARGV[i]) end
  redis.call('LTRIM', KEYS[2], 0, keep - 1)
end
redis.call('DEL', KEYS[1])
return redis.call('LLEN', KEYS[3])
`);

// KEYS: the inbox's processing and events lists, the consumer's events list, the inbox's liveness
// key. ARGV: a liveness record whose owner is known dead ('' = none). Moves everything (an
// interrupted batch first, then pending events, oldest first) onto the consumer's queue, so its
// drain, de-duplication and dead letters apply to them. Returns how many moved, or -1 and moves
// nothing while a live session holds the inbox's id: that one consumes its own queue, and taking
// its batch in flight would deliver it twice (a tier-1 pi still running after an upgrade).
const FOLD_SCRIPT = `
local holder = redis.call('GET', KEYS[4])
if holder and holder ~= ARGV[1] then return -1 end
local moved = 0
for i = 1, 2 do
  while redis.call('RPOPLPUSH', KEYS[i], KEYS[3]) do moved = moved + 1 end
end
return moved
`;

/**
 * Folds another session id's queue into this consumer's, e.g. `main` into the central session:
 * producers that push to `main` keep working whichever session consumes. Not while a live pi
 * holds that id (returns -1 then): it consumes its own queue.
 */
export async function foldInbox(redis: Redis, inbox: { id: string; keys: SessionKeys }, into: SessionKeys, prefix: string): Promise<number> {
  const holderKey = aliveKey(prefix, inbox.id);
  const holder = await redis.get(holderKey);
  const deadHolder = holder !== null && isSessionGone(holder) ? holder : "";
  return Number(await redis.eval(FOLD_SCRIPT, 4, inbox.keys.processing, inbox.keys.events, into.events, holderKey, deadHolder));
}

/** at most this much raw JSON goes to pi in one message (one larger event still goes alone) */
export const MAX_BATCH_BYTES = 256 * 1024;

export type { DeadLetter } from "./dead-letter.ts";

export interface DrainOptions {
  maxBatch: number;
  /** default MAX_BATCH_BYTES */
  maxBatchBytes?: number;
  dedupeTtlSeconds: number;
  /** hands the batch to pi and resolves once pi took it; throwing leaves the batch unacknowledged */
  handOff(events: GatewayEvent[]): Promise<void> | void;
  /**
   * the consumer's memory of ids it handed off whose ack has not landed: drainOnce adds the ids it
   * hands off, acknowledges remembered ones it claims again without handing them off, and forgets
   * them all once an ack lands (the one `processing` list is empty then)
   */
  handedOff?: Set<string>;
  now?: () => number;
  /** default MAX_DEAD_LETTERS: the newest this many stay in the dead-letter list */
  maxDeadLetters?: number;
}

export interface DrainResult {
  claimed: number;
  /** handed off in this drain */
  delivered: GatewayEvent[];
  /** handed off by an earlier drain whose ack failed: acknowledged now, not handed off again */
  acknowledgedAgain: GatewayEvent[];
  duplicates: number;
  deadLettered: DeadLetter[];
  /** events still waiting in the queue after this drain */
  remaining: number;
}

/** Claimed raw entries, oldest first. */
export async function claimBatch(redis: Redis, keys: SessionKeys, maxBatch: number, maxBatchBytes = MAX_BATCH_BYTES): Promise<string[]> {
  const entries = (await redis.eval(CLAIM_SCRIPT, 2, keys.events, keys.processing, String(maxBatch), String(maxBatchBytes))) as string[];
  return entries.reverse();
}

/** Which of these ids were delivered before (as far as Redis remembers). */
async function seenIds(redis: Redis, keys: SessionKeys, ids: string[]): Promise<Set<string>> {
  if (!ids.length) return new Set();
  const marks = await redis.mget(...ids.map((id) => keys.seenPrefix + id));
  return new Set(ids.filter((_, i) => marks[i] !== null));
}

export async function drainOnce(redis: Redis, keys: SessionKeys, options: DrainOptions): Promise<DrainResult> {
  const now = options.now ?? Date.now;
  const claimed = await claimBatch(redis, keys, options.maxBatch, options.maxBatchBytes);
  const result: DrainResult = { claimed: claimed.length, delivered: [], acknowledgedAgain: [], duplicates: 0, deadLettered: [], remaining: 0 };
  if (!claimed.length) return result;

  const parsed = claimed.map((raw) => ({ raw, parsed: parseEvent(raw) }));
  const seen = await seenIds(redis, keys, [...new Set(parsed.flatMap((entry) => (entry.parsed.ok ? [entry.parsed.event.id] : [])))]);
  const batchIds = new Set<string>();
  for (const { raw, parsed: entry } of parsed) {
    if (!entry.ok) result.deadLettered.push(deadLetterFor(raw, entry.reason, now()));
    else if (seen.has(entry.event.id) || batchIds.has(entry.event.id)) result.duplicates++;
    else {
      batchIds.add(entry.event.id);
      (options.handedOff?.has(entry.event.id) ? result.acknowledgedAgain : result.delivered).push(entry.event);
    }
  }

  if (result.delivered.length) await options.handOff(result.delivered);
  for (const event of result.delivered) options.handedOff?.add(event.id);

  const ids = [...result.acknowledgedAgain, ...result.delivered].map((event) => event.id);
  const letters = result.deadLettered.map((letter) => JSON.stringify(letter));
  try {
    const remaining = await ACK_SCRIPT.run(
      redis,
      [keys.processing, keys.deadLetter, keys.events],
      [
        keys.seenPrefix,
        String(options.dedupeTtlSeconds),
        String(now()),
        String(options.maxDeadLetters ?? MAX_DEAD_LETTERS),
        String(ids.length),
        ...ids,
        ...letters,
      ],
    );
    result.remaining = Number(remaining);
    options.handedOff?.clear();
  } catch (error) {
    throw new Error(`acknowledging the batch failed: ${(error as Error).message}`);
  }
  return result;
}
