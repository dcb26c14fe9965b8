// The drain algorithm. One consumer per session id (tier 1: the one pi on `main`; later tiers
// give every session its own id), so the `processing` list belongs to that consumer alone.
//
//   claim:  atomically move events from `events` (tail = oldest) onto `processing`, up to N events
//           and a byte budget, and read `processing` back: a producer's LPUSH mid-drain just stays
//           in `events`, and a batch left in `processing` by a crash is returned again on the next
//           claim. The script also says which ids (as Lua's JSON decoder reads them) were delivered
//           before; besides those it touches only the keys it is given.
//   check:  parse every entry here (the one parser that decides what an id is); the claim's answer
//           counts only where Lua read the same id, Redis is asked again for any other.
//   hand off: valid, not-yet-seen events go to pi in one call, which resolves once pi took them.
//           Events this consumer already handed off, whose ack did not land (Redis went away for
//           longer than the client retries), are not handed off again: they are only acknowledged.
//   ack:    only after the hand-off resolved: mark ids seen (TTL), dead-letter malformed entries
//           (capped: dead-letter.ts) and clear `processing`, in one script (atomic, one command however large the batch).
//           When the caller drains on at once, the same script claims the next batch. Each ack
//           applies once (its token): one sent again after a lost reply must not clear that batch.
//           If the hand-off throws nothing is acknowledged.
import type { Redis } from "ioredis";
import { type DeadLetter, deadLetterFor, MAX_DEAD_LETTERS } from "./dead-letter.ts";
import { type GatewayEvent, parseEvent } from "./event.ts";
import { aliveKey, type SessionKeys } from "./keys.ts";
import { randomUuid } from "./random-id.ts";
import { LuaScript, type ScriptClient } from "./scripts.ts";
import { isSessionGone } from "./sessions.ts";

// The claim and the acknowledgement, as Lua functions: each runs as a script of its own, and an
// acknowledgement that has the next batch claimed in the same trip (a backlog drains at one round
// trip per batch). ARGV of every script: max batch, byte budget, seen-key prefix, whether the claim
// takes only a full batch ('1') or whatever waits (''), the acknowledgement's token, TTL, now, how
// many dead letters to keep, how many ids follow, the delivered ids, then the dead letters.
//
// claim: KEYS events, processing; only a full batch: move events only when they fill a whole batch
// (maxBatch events, or as many as the byte budget takes), the batch a later claim would take too.
// Returns the processing entries (newest first) and, for each, the id Lua reads in it (the first
// "id" string, which the parser in event.ts may disagree with: then it asks again) with whether that
// id was delivered before; false when Lua reads none. The first event always moves, however large,
// so one big event cannot block the queue. The oldest events are read, trimmed and pushed with a
// few commands per batch, not per event.
const CLAIM_LUA = `
local CHUNK = 1000
-- one command over many values, a chunk at a time (unpack has a limit); the replies joined
local function in_chunks(command, key, values)
  local replies = {}
  for first = 1, #values, CHUNK do
    local last = math.min(first + CHUNK - 1, #values)
    local reply
    if key then reply = redis.call(command, key, unpack(values, first, last)) else reply = redis.call(command, unpack(values, first, last)) end
    if type(reply) == 'table' then for i = 1, last - first + 1 do replies[first + i - 1] = reply[i] end end
  end
  return replies
end
local function claim(events, processing)
  local max, budget, seen_prefix, only_full = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4] == '1'
  local entries = redis.call('LRANGE', processing, 0, -1)
  local count, bytes = #entries, 0
  for _, raw in ipairs(entries) do bytes = bytes + #raw end
  if count < max then
    local oldest = redis.call('LRANGE', events, count - max, -1)
    local moved, full = {}, false
    for i = #oldest, 1, -1 do
      local raw = oldest[i]
      if count > 0 and bytes + #raw > budget then full = true break end
      moved[#moved + 1] = raw
      count = count + 1
      bytes = bytes + #raw
    end
    if only_full and not full and count < max then return {{}, {}} end
    if #moved > 0 then
      redis.call('LTRIM', events, 0, -#moved - 1)
      in_chunks('LPUSH', processing, moved)
      local newest_first = {}
      for i = #moved, 1, -1 do newest_first[#newest_first + 1] = moved[i] end
      for _, raw in ipairs(entries) do newest_first[#newest_first + 1] = raw end
      entries = newest_first
    end
  end
  local seen, seen_keys, entry_of = {}, {}, {}
  for i, raw in ipairs(entries) do
    local id = string.match(raw, '"id"%s*:%s*"([^"\\\\]*)"')
    if id then
      seen[i] = {id, 0}
      seen_keys[#seen_keys + 1] = seen_prefix .. id
      entry_of[#seen_keys] = i
    else
      seen[i] = false
    end
  end
  local marks = in_chunks('MGET', nil, seen_keys)
  for k = 1, #seen_keys do
    if marks[k] then seen[entry_of[k]][2] = 1 end
  end
  return {entries, seen}
end
`;

// ack: KEYS processing, dead letters, events, last ack. Marks the ids seen, keeps the newest dead
// letters, clears processing. Applied once per token: ioredis sends a command again when the
// connection broke before its reply came, and a second run after an acknowledgement that claimed
// the next batch would clear that batch from processing unseen.
const ACK_LUA = `
local function ack(processing, dead_letters, events, last_ack)
  local seen_prefix, token, ttl, now, keep, ids = ARGV[3], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9])
  if redis.call('GET', last_ack) == token then return end
  for i = 10, 9 + ids do redis.call('SET', seen_prefix .. ARGV[i], now, 'EX', ttl) end
  if #ARGV > 9 + ids then
    for i = 10 + ids, #ARGV do redis.call('LPUSH', dead_letters, ARGV[i]) end
    redis.call('LTRIM', dead_letters, 0, keep - 1)
  end
  redis.call('DEL', processing)
  redis.call('SET', last_ack, token, 'EX', ttl)
end
`;

const CLAIM_SCRIPT = new LuaScript(`${CLAIM_LUA}return claim(KEYS[1], KEYS[2])`);
const ACK_SCRIPT = new LuaScript(`${ACK_LUA}ack(KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return redis.call('LLEN', KEYS[3])`);
// KEYS: processing, dead letters, events, last ack. Returns how many wait after the claim, and the claim.
const ACK_THEN_CLAIM_SCRIPT = new LuaScript(`${ACK_LUA}${CLAIM_LUA}
ack(KEYS[1], KEYS[2], KEYS[3], KEYS[4])
local claimed = claim(KEYS[3], KEYS[1])
return {redis.call('LLEN', KEYS[3]), claimed[1], claimed[2]}`);

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
  /** the batch claimed by the previous drain's acknowledgement (its `next`), instead of claiming now */
  claimed?: Claimed;
  /**
   * asked when acknowledging, which next batch to claim in the same trip: "waiting" takes whatever
   * waits (the caller drains it next, at once); "full" only a full batch (maxBatch events, or the
   * byte budget's worth), which a later claim would take just the same, so it may wait in
   * `processing` until the host can take it (pi's turn ends); "none" claims nothing
   */
  claimNext?: () => NextClaim;
}

export type NextClaim = "waiting" | "full" | "none";

export interface DrainResult {
  claimed: number;
  /** handed off in this drain */
  delivered: GatewayEvent[];
  /** handed off by an earlier drain whose ack failed: acknowledged now, not handed off again */
  acknowledgedAgain: GatewayEvent[];
  duplicates: number;
  deadLettered: DeadLetter[];
  /** events still waiting in the queue after this drain (and after `next` was claimed) */
  remaining: number;
  /** the next batch, claimed with this one's acknowledgement (claimNext): pass it as `claimed` to the next drain */
  next?: Claimed;
}

/** A claimed batch: the raw entries, oldest first, and what the claim script found of each one's id. */
export interface Claimed {
  entries: string[];
  /** per entry: the id Lua read and whether it was delivered before; null when Lua read none */
  seen: (readonly [id: string, seenBefore: number] | null)[];
}

type ClaimReply = [entries: string[], seen: ([string, number] | null)[]];

function claimedFrom([entries, seen]: ClaimReply): Claimed {
  return { entries: entries.reverse(), seen: seen.reverse() };
}

interface Acknowledgement {
  token: string;
  ttl: number;
  now: number;
  keep: number;
  ids: string[];
  letters: string[];
}

function scriptArgs(keys: SessionKeys, maxBatch: number, maxBatchBytes: number, ack?: Acknowledgement, onlyFull = false) {
  const head = [String(maxBatch), String(maxBatchBytes), keys.seenPrefix, onlyFull ? "1" : ""];
  if (!ack) return head;
  return [...head, ack.token, String(ack.ttl), String(ack.now), String(ack.keep), String(ack.ids.length), ...ack.ids, ...ack.letters];
}

let ackTokenBase: string | undefined;
let acksSent = 0;

/** Unique to one acknowledgement: this process's random part and a count. */
function ackToken(): string {
  ackTokenBase ??= randomUuid();
  return `${ackTokenBase}:${++acksSent}`;
}

async function claim(redis: ScriptClient, keys: SessionKeys, maxBatch: number, maxBatchBytes = MAX_BATCH_BYTES): Promise<Claimed> {
  return claimedFrom((await CLAIM_SCRIPT.run(redis, [keys.events, keys.processing], scriptArgs(keys, maxBatch, maxBatchBytes))) as ClaimReply);
}

/** Claimed raw entries, oldest first. */
export async function claimBatch(redis: Redis, keys: SessionKeys, maxBatch: number, maxBatchBytes = MAX_BATCH_BYTES): Promise<string[]> {
  return (await claim(redis, keys, maxBatch, maxBatchBytes)).entries;
}

/**
 * Which of these entries' ids were delivered before (as far as Redis remembers): the claim's answer
 * where Lua read the same id as the parser, one MGET for any other.
 */
async function seenIds(redis: Redis, keys: SessionKeys, claimed: Claimed, ids: (string | undefined)[]): Promise<Set<string>> {
  const seen = new Set<string>();
  const unknown = new Set<string>();
  ids.forEach((id, i) => {
    if (id === undefined) return;
    const answer = claimed.seen[i];
    if (answer?.[0] !== id) unknown.add(id);
    else if (answer[1] === 1) seen.add(id);
  });
  if (unknown.size) {
    const asked = [...unknown];
    const marks = await redis.mget(...asked.map((id) => keys.seenPrefix + id));
    asked.forEach((id, i) => {
      if (marks[i] !== null) seen.add(id);
    });
  }
  return seen;
}

export async function drainOnce(redis: Redis, keys: SessionKeys, options: DrainOptions): Promise<DrainResult> {
  const now = options.now ?? Date.now;
  const maxBatchBytes = options.maxBatchBytes ?? MAX_BATCH_BYTES;
  const claimed = options.claimed ?? (await claim(redis, keys, options.maxBatch, maxBatchBytes));
  const result: DrainResult = { claimed: claimed.entries.length, delivered: [], acknowledgedAgain: [], duplicates: 0, deadLettered: [], remaining: 0 };
  if (!claimed.entries.length) return result;

  const parsed = claimed.entries.map((raw) => ({ raw, parsed: parseEvent(raw) }));
  const seen = await seenIds(
    redis,
    keys,
    claimed,
    parsed.map((entry) => (entry.parsed.ok ? entry.parsed.event.id : undefined)),
  );
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

  const ack: Acknowledgement = {
    token: ackToken(),
    ttl: options.dedupeTtlSeconds,
    now: now(),
    keep: options.maxDeadLetters ?? MAX_DEAD_LETTERS,
    ids: [...result.acknowledgedAgain, ...result.delivered].map((event) => event.id),
    letters: result.deadLettered.map((letter) => JSON.stringify(letter)),
  };
  const ackKeys = [keys.processing, keys.deadLetter, keys.events, keys.lastAck];
  try {
    const next = options.claimNext?.() ?? "none";
    if (next !== "none") {
      const args = scriptArgs(keys, options.maxBatch, maxBatchBytes, ack, next === "full");
      const [remaining, ...nextReply] = (await ACK_THEN_CLAIM_SCRIPT.run(redis, ackKeys, args)) as [number, ...ClaimReply];
      result.remaining = Number(remaining);
      const claimedNext = claimedFrom(nextReply);
      if (claimedNext.entries.length) result.next = claimedNext;
    } else {
      result.remaining = Number(await ACK_SCRIPT.run(redis, ackKeys, scriptArgs(keys, options.maxBatch, maxBatchBytes, ack)));
    }
    options.handedOff?.clear();
  } catch (error) {
    throw new Error(`acknowledging the batch failed: ${(error as Error).message}`);
  }
  return result;
}
