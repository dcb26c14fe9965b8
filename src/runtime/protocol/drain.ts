// The drain algorithm. One consumer per session id (tier 1: the one pi on `main`; later tiers
// give every session its own id), so the `processing` list belongs to that consumer alone.
//
//   claim:  atomically move events from `events` (tail = oldest) onto `processing`, a group of
//           batches of up to N events and a byte budget each, after what `processing` still holds
//           from a crash: a producer's LPUSH mid-drain just stays in `events`, and a batch left in
//           `processing` is returned again, first. The script also says which ids (as Lua reads
//           them) were delivered before; besides those it touches only the keys it is given.
//   check:  parse every entry here (the one parser that decides what an id is); the claim's answer
//           counts only where Lua read the same id, Redis is asked again for any other.
//   hand off: one batch at a time: valid, not-yet-seen events go to pi in one call, which resolves
//           once pi took them. Ids this consumer handed off that a claim could not know of yet (a
//           batch claimed before the acknowledgement of an earlier one ran, or whose ack failed)
//           are not handed off again: they are only acknowledged.
//   ack:    only after the hand-off resolved: mark ids seen (TTL), dead-letter malformed entries
//           (capped: dead-letter.ts) and clear the batch, the oldest entries of `processing`, in one
//           script. It applies only after the acknowledgement sent before it did, and only once:
//           one sent again after a lost reply must not clear another batch. While a batch is in
//           hand, the acknowledgement of the one before it is not waited for, and the next group is
//           claimed in the same script while the last batches of the current one are still to go,
//           so a backlog's round trips run while batches go to pi. If the hand-off throws nothing is
//           acknowledged.
import type { Redis } from "ioredis";
import { type DeadLetter, deadLetterFor, MAX_DEAD_LETTERS } from "./dead-letter.ts";
import { type GatewayEvent, parseEvent } from "./event.ts";
import { aliveKey, type SessionKeys } from "./keys.ts";
import { randomUuid } from "./random-id.ts";
import { LuaScript, type ScriptClient } from "./scripts.ts";
import { isSessionGone } from "./sessions.ts";

// The claim and the acknowledgement, as Lua functions: each runs as a script of its own, and the
// acknowledgement of a group's last batch claims the next group in the same trip. ARGV of every
// script: max batch, byte budget, seen-key prefix, whether the claim takes only full batches ('1')
// or a first batch of whatever waits (''), how many batches a group holds at most, how many entries
// of processing the consumer holds claimed already (0: it holds none, processing is a crash's
// leftovers, or empty), then for an acknowledgement: its token, the token of the acknowledgement
// sent before it ('' after a fresh claim), TTL, now, how many dead letters to keep, how many entries
// it clears from processing, how many ids follow, the delivered ids, then the dead letters.
//
// claim: KEYS events, processing. A group of batches, oldest first: what `processing` holds (a
// crash's leftovers), then the oldest events, up to the group's count of batches of maxBatch events
// or the byte budget each. Batches after the first are only taken full (maxBatch events, or as many
// as the budget takes: the batches a later claim would take too), and with only_full the first as
// well; a smaller one is left to grow. The first event of a batch always fits, however large, so
// one big event cannot block the queue. Returns the entries (oldest first), for each the id Lua
// reads in it (the first "id" string, which the parser in event.ts may disagree with: then it asks
// again) with whether that id was delivered before (false when Lua reads none), and the batches'
// sizes. Events move with a few commands per group, not per event. When the consumer still holds
// claimed entries (a batch it has not handed over yet), processing must hold exactly those, and
// the claim takes only events; nil when it does not (the consumer is out of step).
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
  local max, budget, seen_prefix, only_full, group = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4] == '1', tonumber(ARGV[5])
  local in_hand = tonumber(ARGV[6])
  local limit = max * group
  local taken, sizes = {}, {}
  local count, bytes = 0, 0
  -- takes an entry into the open batch, closing that first when the entry does not fit; false once the group is complete
  local function take(raw)
    if count > 0 and (count == max or bytes + #raw > budget) then
      sizes[#sizes + 1] = count
      count, bytes = 0, 0
      if #sizes == group then return false end
    end
    taken[#taken + 1] = raw
    count, bytes = count + 1, bytes + #raw
    return true
  end
  local held = {}
  if in_hand > 0 then
    if redis.call('LLEN', processing) ~= in_hand then return nil end
  else
    held = redis.call('LRANGE', processing, -limit, -1)
  end
  local complete = false
  for i = #held, 1, -1 do
    if not take(held[i]) then complete = true break end
  end
  local moved = 0
  if not complete then
    -- one more than the group can take: the event that does not fit says the last batch is full
    local oldest = redis.call('LRANGE', events, -(limit - #taken + 1), -1)
    for i = #oldest, 1, -1 do
      if not take(oldest[i]) then break end
      moved = moved + 1
    end
  end
  if count > 0 then
    if count < max and (only_full or #sizes > 0) then
      local drop = math.min(count, moved)
      for _ = 1, drop do taken[#taken] = nil end
      moved, count = moved - drop, count - drop
    end
    if count > 0 then sizes[#sizes + 1] = count end
  end
  if moved > 0 then
    redis.call('LTRIM', events, 0, -moved - 1)
    local pushed = {}
    for i = #taken - moved + 1, #taken do pushed[#pushed + 1] = taken[i] end
    in_chunks('LPUSH', processing, pushed)
  end
  local seen, seen_keys, entry_of = {}, {}, {}
  for i, raw in ipairs(taken) do
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
  return {taken, seen, sizes}
end
`;

// ack: KEYS processing, dead letters, events, last ack. Marks the ids seen, keeps the newest dead
// letters, and clears the batch from processing: its entries are the oldest there, as the batches
// claimed before it were cleared before it. Returns 1, or 0 and does nothing when the
// acknowledgement sent before it did not apply (it failed): then processing no longer ends with
// this batch. Applied once: ioredis sends a command again when the connection broke before its
// reply came, and a second run would clear entries of the batches after it. A token is a process's
// random part and a count, and one process's acknowledgements run in the order it counts them, so
// one whose count is not above the last applied one's ran before.
const ACK_LUA = `
local function ack(processing, dead_letters, events, last_ack)
  local seen_prefix, token, previous, ttl, now = ARGV[3], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
  local keep, clears, ids = tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])
  local last = redis.call('GET', last_ack)
  if last then
    local last_source, last_count = string.match(last, '^(.*):(%d+)$')
    local source, count = string.match(token, '^(.*):(%d+)$')
    if last_source == source and tonumber(last_count) >= tonumber(count) then return 1 end
  end
  if previous ~= '' and last ~= previous then return 0 end
  for i = 14, 13 + ids do redis.call('SET', seen_prefix .. ARGV[i], now, 'EX', ttl) end
  if #ARGV > 13 + ids then
    for i = 14 + ids, #ARGV do redis.call('LPUSH', dead_letters, ARGV[i]) end
    redis.call('LTRIM', dead_letters, 0, keep - 1)
  end
  redis.call('LTRIM', processing, 0, -clears - 1)
  redis.call('SET', last_ack, token, 'EX', ttl)
  return 1
end
`;

const CLAIM_SCRIPT = new LuaScript(`${CLAIM_LUA}return claim(KEYS[1], KEYS[2]) or {{}, {}, {}}`);
// KEYS: processing, dead letters, events, last ack. Returns how many wait, or -1 when out of step.
const ACK_SCRIPT = new LuaScript(`${ACK_LUA}if ack(KEYS[1], KEYS[2], KEYS[3], KEYS[4]) == 0 then return -1 end
return redis.call('LLEN', KEYS[3])`);
// The same, and the next group's claim after it (none when out of step).
const ACK_THEN_CLAIM_SCRIPT = new LuaScript(`${ACK_LUA}${CLAIM_LUA}
if ack(KEYS[1], KEYS[2], KEYS[3], KEYS[4]) == 0 then return {-1, {}, {}, {}} end
local claimed = claim(KEYS[3], KEYS[1])
if not claimed then return {-1, {}, {}, {}} end
return {redis.call('LLEN', KEYS[3]), claimed[1], claimed[2], claimed[3]}`);

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

/** the next group is claimed while this many of the current one's batches are still to go (with acknowledgeInBackground) */
const CLAIM_AHEAD_BATCHES = 3;
/** how many groups' worth of batches (and two more) the hand-off memory keeps (see HandedOff) */
const REMEMBERED_GROUPS = 2;

/**
 * Ids this consumer handed off, or acknowledged again, by batch. A claim reads which ids were
 * delivered before from the seen marks, so a batch it took before the acknowledgement of an
 * earlier one ran (a claim ahead, or the rest of a group) learns of that batch's ids only here,
 * and neither does a batch whose acknowledgement failed. Claimed again, these ids are only
 * acknowledged, not handed off a second time. A batch's ids are kept until the acknowledgements
 * of a few groups' worth of batches after it landed, and forgotten all at once when an
 * acknowledgement lands while no claimed batch is in hand or on its way.
 */
export class HandedOff {
  private readonly batchOf = new Map<string, number>();
  private readonly order: { batch: number; ids: readonly string[] }[] = [];
  private batches = 0;

  has(id: string): boolean {
    return this.batchOf.has(id);
  }

  /** remembers one batch's ids; returns the batch's number */
  add(ids: readonly string[]): number {
    const batch = ++this.batches;
    for (const id of ids) this.batchOf.set(id, batch);
    this.order.push({ batch, ids });
    return batch;
  }

  /** the acknowledgement of `batch` landed: forgets the batches more than `keep` before it */
  landed(batch: number, keep: number): void {
    while (this.order.length && this.order[0]!.batch <= batch - keep) {
      const { batch: old, ids } = this.order.shift()!;
      for (const id of ids) if (this.batchOf.get(id) === old) this.batchOf.delete(id);
    }
  }

  clear(): void {
    this.batchOf.clear();
    this.order.length = 0;
  }

  get size(): number {
    return this.batchOf.size;
  }
}

export interface DrainOptions {
  maxBatch: number;
  /** default MAX_BATCH_BYTES */
  maxBatchBytes?: number;
  /**
   * how many batches one claim takes at most (default 1): the first, then only full ones. Each is
   * handed off and acknowledged on its own, the group's next batches come back as `next`, so a
   * backlog pays one round trip per group; and with acknowledgeInBackground, the acknowledgement
   * of the batch before a group's last also claims the next group (`claiming`), so the round trips
   * run while batches go to the host
   */
  groupBatches?: number;
  dedupeTtlSeconds: number;
  /** hands the batch to pi and resolves once pi took it; throwing leaves the batch unacknowledged */
  handOff(events: GatewayEvent[]): Promise<void> | void;
  /** the consumer's memory of the ids it handed off (see HandedOff) */
  handedOff?: HandedOff;
  now?: () => number;
  /** default MAX_DEAD_LETTERS: the newest this many stay in the dead-letter list */
  maxDeadLetters?: number;
  /** batches claimed before (the previous drain's `next`, or what its `claiming` brought), instead of claiming now */
  claimed?: Claimed;
  /** the token of the acknowledgement sent before this drain's, in step with `claimed` (the previous drain's `ackToken`) */
  previousAck?: string;
  /** a claim is on its way (the previous drain's `claiming`): this drain's acknowledgement claims nothing */
  claimInFlight?: boolean;
  /**
   * asked when an acknowledgement may claim, which next group to claim in the same trip: "waiting"
   * takes whatever waits (the caller drains it next, at once); "full" only full batches (maxBatch
   * events, or the byte budget's worth), which a later claim would take just the same, so they may
   * wait in `processing` until the host can take them (pi's turn ends); "none" claims nothing
   */
  claimNext?: () => NextClaim;
  /**
   * given: the acknowledgement of a batch with another claimed batch in hand or on its way is not
   * waited for; it goes here instead (it rejects when it failed, or when the one before it had failed)
   */
  acknowledgeInBackground?: (acknowledged: Promise<void>) => void;
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
  /** events still waiting in the queue after this drain (and after `next` was claimed); 0 when its acknowledgement is still on its way */
  remaining: number;
  /** the batches in hand: the group's next ones, or the next group claimed with this drain's acknowledgement. Pass it as `claimed` */
  next?: Claimed;
  /** the next group, claimed ahead with this drain's acknowledgement while `next` is in hand; pass what it brings as `claimed` after `next` */
  claiming?: Promise<Claimed | undefined>;
  /** this drain's acknowledgement, for the next drain's `previousAck` */
  ackToken?: string;
}

/** Claimed batches: the raw entries, oldest first, what the claim script found of each one's id, and where each batch ends. */
export interface Claimed {
  entries: string[];
  /** per entry: the id Lua read and whether it was delivered before; null when Lua read none */
  seen: (readonly [id: string, seenBefore: number] | null)[];
  /** events per batch, in order */
  sizes: number[];
}

type ClaimReply = [entries: string[], seen: ([string, number] | null)[], sizes: number[]];

function claimedFrom([entries, seen, sizes]: ClaimReply): Claimed | undefined {
  return entries.length ? { entries, seen, sizes } : undefined;
}

/** The first batch, and the rest after it (none when it was the last). */
function firstBatch(group: Claimed): { batch: Claimed; rest: Claimed | undefined } {
  const size = group.sizes[0] ?? group.entries.length;
  const batch = { entries: group.entries.slice(0, size), seen: group.seen.slice(0, size), sizes: [size] };
  if (group.sizes.length < 2) return { batch, rest: undefined };
  return { batch, rest: { entries: group.entries.slice(size), seen: group.seen.slice(size), sizes: group.sizes.slice(1) } };
}

interface Acknowledgement {
  token: string;
  previous: string;
  ttl: number;
  now: number;
  keep: number;
  clears: number;
  ids: string[];
  letters: string[];
}

interface ClaimShape {
  maxBatch: number;
  maxBatchBytes: number;
  groupBatches: number;
  onlyFull: boolean;
  /** entries of processing the consumer holds claimed already */
  inHand: number;
}

function scriptArgs(keys: SessionKeys, shape: ClaimShape, ack?: Acknowledgement) {
  const head = [
    String(shape.maxBatch),
    String(shape.maxBatchBytes),
    keys.seenPrefix,
    shape.onlyFull ? "1" : "",
    String(shape.groupBatches),
    String(shape.inHand),
  ];
  if (!ack) return head;
  const counts = [String(ack.ttl), String(ack.now), String(ack.keep), String(ack.clears), String(ack.ids.length)];
  return [...head, ack.token, ack.previous, ...counts, ...ack.ids, ...ack.letters];
}

let ackTokenBase: string | undefined;
let acksSent = 0;

/** Unique to one acknowledgement: this process's random part and a count. */
function ackToken(): string {
  ackTokenBase ??= randomUuid();
  return `${ackTokenBase}:${++acksSent}`;
}

async function claim(redis: ScriptClient, keys: SessionKeys, shape: ClaimShape): Promise<Claimed | undefined> {
  return claimedFrom((await CLAIM_SCRIPT.run(redis, [keys.events, keys.processing], scriptArgs(keys, shape))) as ClaimReply);
}

/** Claimed raw entries of one batch, oldest first. */
export async function claimBatch(redis: Redis, keys: SessionKeys, maxBatch: number, maxBatchBytes = MAX_BATCH_BYTES): Promise<string[]> {
  return (await claim(redis, keys, { maxBatch, maxBatchBytes, groupBatches: 1, onlyFull: false, inHand: 0 }))?.entries ?? [];
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

const OUT_OF_STEP = "the acknowledgement sent before it did not apply, or processing holds other entries than the consumer claimed";
const ackFailed = (reason: string) => new Error(`acknowledging the batch failed: ${reason}`);

type AckReply = [remaining: number, ...ClaimReply];

export async function drainOnce(redis: Redis, keys: SessionKeys, options: DrainOptions): Promise<DrainResult> {
  const now = options.now ?? Date.now;
  const groupBatches = options.groupBatches ?? 1;
  const shape = { maxBatch: options.maxBatch, maxBatchBytes: options.maxBatchBytes ?? MAX_BATCH_BYTES, groupBatches };
  const group = options.claimed ?? (await claim(redis, keys, { ...shape, onlyFull: false, inHand: 0 }));
  const result: DrainResult = { claimed: 0, delivered: [], acknowledgedAgain: [], duplicates: 0, deadLettered: [], remaining: 0 };
  if (!group) return result;
  const { batch: claimed, rest } = firstBatch(group);
  result.claimed = claimed.entries.length;

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
  const ids = [...result.acknowledgedAgain, ...result.delivered].map((event) => event.id);
  const handedBatch = options.handedOff?.add(ids) ?? 0;

  const ack: Acknowledgement = {
    token: ackToken(),
    previous: options.previousAck ?? "",
    ttl: options.dedupeTtlSeconds,
    now: now(),
    keep: options.maxDeadLetters ?? MAX_DEAD_LETTERS,
    clears: claimed.entries.length,
    ids,
    letters: result.deadLettered.map((letter) => JSON.stringify(letter)),
  };
  result.ackToken = ack.token;
  if (rest) result.next = rest;
  const ackKeys = [keys.processing, keys.deadLetter, keys.events, keys.lastAck];
  const restBatches = rest?.sizes.length ?? 0;
  // a claim ahead while the group's last batches are still in hand, only with the acknowledgement in the background
  const claimAhead = restBatches > 0 && restBatches <= CLAIM_AHEAD_BATCHES && !!options.acknowledgeInBackground;
  const next = options.claimInFlight || (restBatches > 0 && !claimAhead) ? "none" : (options.claimNext?.() ?? "none");
  const inHand = rest?.entries.length ?? 0;
  const sent: Promise<AckReply> =
    next === "none"
      ? ACK_SCRIPT.run(redis, ackKeys, scriptArgs(keys, { ...shape, onlyFull: false, inHand }, ack)).then((remaining) => [Number(remaining), [], [], []])
      : (ACK_THEN_CLAIM_SCRIPT.run(redis, ackKeys, scriptArgs(keys, { ...shape, onlyFull: claimAhead || next === "full", inHand }, ack)) as Promise<AckReply>);
  const landed = sent.then(
    ([remaining, ...claimReply]): { remaining: number; claimed: Claimed | undefined } => {
      if (Number(remaining) < 0) throw ackFailed(OUT_OF_STEP);
      // nothing claimed is in hand or on its way but what this script claimed after the acknowledgement, which knows all the marks
      if (!rest && !options.claimInFlight) options.handedOff?.clear();
      else options.handedOff?.landed(handedBatch, REMEMBERED_GROUPS * groupBatches + 2);
      return { remaining: Number(remaining), claimed: claimedFrom(claimReply) };
    },
    (error: Error) => {
      throw ackFailed(error.message);
    },
  );
  if (options.acknowledgeInBackground && (rest || options.claimInFlight)) {
    options.acknowledgeInBackground(landed.then(() => undefined));
    if (claimAhead && next !== "none") {
      result.claiming = landed.then((reply) => reply.claimed);
      // awaited by the drain that needs it; a failure is reported through acknowledgeInBackground
      result.claiming.catch(() => {});
    }
    return result;
  }
  const reply = await landed;
  result.remaining = reply.remaining;
  if (!rest && reply.claimed) result.next = reply.claimed;
  return result;
}
