// The drain algorithm against the real redis-server: order, atomicity, recovery, de-duplication,
// dead letters.
import { Redis } from "ioredis";
import { afterAll, beforeEach, describe, expect, inject, it } from "vitest";
import { type Claimed, claimBatch, type DrainOptions, drainOnce, HandedOff, type NextClaim } from "../src/runtime/protocol/drain.ts";
import { createEvent, type GatewayEvent } from "../src/runtime/protocol/event.ts";
import { type SessionKeys, sessionKeys } from "../src/runtime/protocol/keys.ts";
import { pushToSession } from "../src/runtime/protocol/push.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";

const redis = new Redis(inject("redisUrl"));
let prefix: string;
let keys: SessionKeys;

beforeEach(() => {
  prefix = randomPrefix();
  keys = sessionKeys(prefix, "main");
});
afterAll(() => redis.disconnect());

const push = (id: string) => pushToSession(redis, { prefix, sessionId: "main", event: createEvent({ id, type: "test", source: "unit" }) });
const ids = (events: GatewayEvent[]) => events.map((e) => e.id);

function options(handOff: DrainOptions["handOff"] = () => {}, maxBatch = 50): DrainOptions {
  return { maxBatch, dedupeTtlSeconds: 60, handOff };
}

describe("drainOnce", () => {
  it("hands events over oldest first, at most maxBatch at a time", async () => {
    for (const id of ["e1", "e2", "e3", "e4", "e5"]) await push(id);
    const first = await drainOnce(redis, keys, options(undefined, 3));
    expect(ids(first.delivered)).toEqual(["e1", "e2", "e3"]);
    expect(first.remaining).toBe(2);
    const second = await drainOnce(redis, keys, options(undefined, 3));
    expect(ids(second.delivered)).toEqual(["e4", "e5"]);
    expect(second.remaining).toBe(0);
    expect(await redis.llen(keys.processing)).toBe(0);
  });

  it("keeps an event pushed while a batch is being handed over", async () => {
    await push("before");
    const result = await drainOnce(
      redis,
      keys,
      options(async () => {
        await push("during");
      }),
    );
    expect(ids(result.delivered)).toEqual(["before"]);
    expect(result.remaining).toBe(1);
    expect(ids((await drainOnce(redis, keys, options())).delivered)).toEqual(["during"]);
  });

  it("acknowledges nothing when the hand-off fails, and the next drain recovers the batch first", async () => {
    await push("a");
    await push("b");
    await expect(
      drainOnce(
        redis,
        keys,
        options(() => {
          throw new Error("pi went away");
        }),
      ),
    ).rejects.toThrow("pi went away");
    expect(await redis.llen(keys.processing)).toBe(2);
    await push("c");
    // a new consumer after a restart
    const recovered = await drainOnce(redis, keys, options());
    expect(ids(recovered.delivered)).toEqual(["a", "b", "c"]);
    expect(await redis.llen(keys.processing)).toBe(0);
  });

  it("acknowledges a batch whose acknowledgement failed on the next drain, without handing it off again", async () => {
    await push("h1");
    await push("h2");
    const handedOff = new HandedOff();
    const handed: string[][] = [];
    const drain = (client: Redis) => drainOnce(client, keys, { ...options((events) => void handed.push(ids(events))), handedOff });
    // the claim and then the acknowledgement run by EVALSHA: this client loses its connection after the claim
    let scripts = 0;
    const losesTheAck = new Proxy(redis, {
      get: (target, property, receiver) =>
        property === "evalsha" && scripts++ > 0
          ? () => Promise.reject(new Error("Reached the max retries per request limit"))
          : Reflect.get(target, property, receiver),
    });
    await expect(drain(losesTheAck)).rejects.toThrow(/acknowledging the batch failed/);
    expect(await redis.llen(keys.processing)).toBe(2);
    expect([handedOff.has("h1"), handedOff.has("h2"), handedOff.size]).toEqual([true, true, 2]);
    await push("h3");
    const again = await drain(redis);
    expect(handed).toEqual([["h1", "h2"], ["h3"]]);
    expect(ids(again.acknowledgedAgain)).toEqual(["h1", "h2"]);
    expect(ids(again.delivered)).toEqual(["h3"]);
    expect(await redis.mget(...["h1", "h2", "h3"].map((id) => keys.seenPrefix + id))).not.toContain(null);
    expect(await redis.llen(keys.processing)).toBe(0);
    expect(handedOff.size).toBe(0);
  });

  it("claims the next batch with the acknowledgement when asked, and drains it from there in order", async () => {
    for (const id of ["n1", "n2", "n3", "n4", "n5"]) await push(id);
    const handed: string[][] = [];
    const drain = (claimed?: Awaited<ReturnType<typeof drainOnce>>["next"]) =>
      drainOnce(redis, keys, { ...options((events) => void handed.push(ids(events)), 2), claimNext: () => "waiting", ...(claimed ? { claimed } : {}) });
    const first = await drain();
    expect(first.next?.entries.map((raw) => JSON.parse(raw).id)).toEqual(["n3", "n4"]);
    expect(await redis.llen(keys.processing)).toBe(2);
    expect(first.remaining).toBe(1);
    const second = await drain(first.next);
    const third = await drain(second.next);
    expect(third.next).toBeUndefined();
    expect(handed).toEqual([["n1", "n2"], ["n3", "n4"], ["n5"]]);
    expect(await redis.llen(keys.processing)).toBe(0);
  });

  it("claims only a full batch with the acknowledgement while the host is busy, and leaves a smaller one to grow", async () => {
    for (const id of ["f1", "f2", "f3", "f4", "f5"]) await push(id);
    const handed: string[][] = [];
    const drain = (claimed?: Claimed) =>
      drainOnce(redis, keys, { ...options((events) => void handed.push(ids(events)), 2), claimNext: () => "full", ...(claimed ? { claimed } : {}) });
    const first = await drain();
    expect(first.next?.entries.map((raw) => JSON.parse(raw).id)).toEqual(["f3", "f4"]);
    const second = await drain(first.next);
    expect(second.next).toBeUndefined();
    expect(await redis.lrange(keys.events, 0, -1)).toHaveLength(1);
    expect(await redis.llen(keys.processing)).toBe(0);
    await push("f6");
    await drain();
    expect(handed).toEqual([
      ["f1", "f2"],
      ["f3", "f4"],
      ["f5", "f6"],
    ]);
  });

  it("counts a batch the byte budget closes as full", async () => {
    const big = (id: string) => createEvent({ id, type: "big", source: "unit", payload: { blob: "x".repeat(100_000) } });
    for (const id of ["b1", "b2", "b3"]) await pushToSession(redis, { prefix, sessionId: "main", event: big(id) });
    const budget = { ...options(), maxBatchBytes: 150_000, claimNext: (): NextClaim => "full" };
    const first = await drainOnce(redis, keys, budget);
    expect(ids(first.delivered)).toEqual(["b1"]);
    expect(first.next?.entries.map((raw) => JSON.parse(raw).id)).toEqual(["b2"]);
    // b3 is alone in the queue: a later claim could take more with it
    const second = await drainOnce(redis, keys, { ...budget, claimed: first.next! });
    expect(ids(second.delivered)).toEqual(["b2"]);
    expect(second.next).toBeUndefined();
    expect(await redis.llen(keys.events)).toBe(1);
  });

  it("claims and de-duplicates batches larger than one Lua call takes in arguments, in order", async () => {
    const count = 8_500;
    const pushAll = async () => {
      const pipeline = redis.pipeline();
      for (let i = 0; i < count; i++) pipeline.lpush(keys.events, JSON.stringify(createEvent({ id: `big-batch-${i}`, type: "test", source: "unit" })));
      await pipeline.exec();
    };
    await pushAll();
    const handed: string[][] = [];
    const large = { ...options((events) => void handed.push(ids(events)), count), maxBatchBytes: 10_000_000 };
    const first = await drainOnce(redis, keys, large);
    expect(handed).toEqual([Array.from({ length: count }, (_, i) => `big-batch-${i}`)]);
    await pushAll();
    const again = await drainOnce(redis, keys, large);
    expect(first.remaining).toBe(0);
    expect(again.duplicates).toBe(count);
    expect(handed).toHaveLength(1);
  });

  it("recovers a batch claimed with an acknowledgement by a consumer that stopped before draining it", async () => {
    for (const id of ["p1", "p2", "p3"]) await push(id);
    const first = await drainOnce(redis, keys, { ...options(undefined, 2), claimNext: () => "waiting" });
    expect(first.next?.entries).toHaveLength(1);
    // the consumer stopped here; the next one claims without it
    const handed: string[][] = [];
    await drainOnce(
      redis,
      keys,
      options((events) => void handed.push(ids(events))),
    );
    expect(handed).toEqual([["p3"]]);
  });

  it("knows a duplicate claimed in the same trip as the acknowledgement of its first copy", async () => {
    for (const id of ["d1", "d2", "d1"]) await push(id);
    const handed: string[][] = [];
    const first = await drainOnce(redis, keys, { ...options((events) => void handed.push(ids(events)), 2), claimNext: () => "waiting" });
    const second = await drainOnce(redis, keys, { ...options((events) => void handed.push(ids(events)), 2), claimed: first.next! });
    expect(handed).toEqual([["d1", "d2"]]);
    expect(second.duplicates).toBe(1);
  });

  it("recovers a batch claimed by a consumer that crashed before handing it over", async () => {
    await push("x");
    await claimBatch(redis, keys, 50); // claimed, then the process died
    expect(await redis.llen(keys.events)).toBe(0);
    expect(ids((await drainOnce(redis, keys, options())).delivered)).toEqual(["x"]);
  });

  it("suppresses duplicate ids within a batch and across restarts", async () => {
    await push("dup");
    await push("dup");
    const first = await drainOnce(redis, keys, options());
    expect(ids(first.delivered)).toEqual(["dup"]);
    expect(first.duplicates).toBe(1);
    await push("dup");
    const later = await drainOnce(redis, keys, options());
    expect(later.delivered).toEqual([]);
    expect(later.duplicates).toBe(1);
    expect(await redis.ttl(`${keys.seenPrefix}dup`)).toBeGreaterThan(0);
  });

  it("suppresses duplicates of ids that Lua's JSON decoder cannot read (lone surrogates)", async () => {
    const id = "\ud800x";
    const raw = JSON.stringify({ id, type: "t", source: "s", payload: {}, ts: 1 });
    await redis.lpush(keys.events, raw);
    expect(ids((await drainOnce(redis, keys, options())).delivered)).toEqual([id]);
    await redis.lpush(keys.events, raw);
    const again = await drainOnce(redis, keys, options());
    expect(again.delivered).toEqual([]);
    expect(again.duplicates).toBe(1);
  });

  it('decides duplicates by the parser\'s id, whatever else the text holds (a nested "id", escapes)', async () => {
    const raws = [
      // a text search would find the payload's "id" first
      '{"type":"t","source":"s","payload":{"id":"inner"},"ts":1,"id":"outer"}',
      // escapes only a JSON parser decodes
      JSON.stringify({ id: 'quote"d\\id', type: "t", source: "s", payload: {}, ts: 1 }),
      '{"\\u0069d":"unicode-key","type":"t","source":"s","payload":{},"ts":1}',
    ];
    // "inner" is marked seen, but the event's id is "outer"
    await redis.set(keys.seenPrefix + "inner", "1");
    for (const raw of raws) await redis.lpush(keys.events, raw);
    expect(ids((await drainOnce(redis, keys, options())).delivered)).toEqual(["outer", 'quote"d\\id', "unicode-key"]);
    for (const raw of raws) await redis.lpush(keys.events, raw);
    const again = await drainOnce(redis, keys, options());
    expect(again.delivered).toEqual([]);
    expect(again.duplicates).toBe(3);
  });

  it("hands over at most a byte budget per batch, but always at least one event however large", async () => {
    const big = (id: string) => createEvent({ id, type: "big", source: "unit", payload: { blob: "x".repeat(100_000) } });
    for (const id of ["b1", "b2", "b3"]) await pushToSession(redis, { prefix, sessionId: "main", event: big(id) });
    const batches: string[][] = [];
    const budget = { ...options((events) => void batches.push(ids(events))), maxBatchBytes: 250_000 };
    await drainOnce(redis, keys, budget);
    await drainOnce(redis, keys, { ...budget, maxBatchBytes: 50_000 });
    expect(batches).toEqual([["b1", "b2"], ["b3"]]);
    expect(await redis.llen(keys.events)).toBe(0);
  });

  it("counts a recovered batch against the byte budget", async () => {
    for (const id of ["r1", "r2"])
      await pushToSession(redis, {
        prefix,
        sessionId: "main",
        event: createEvent({ id, type: "big", source: "unit", payload: { blob: "x".repeat(100_000) } }),
      });
    await claimBatch(redis, keys, 1); // r1 claimed, then the consumer died
    const handed: string[][] = [];
    await drainOnce(redis, keys, { ...options((events) => void handed.push(ids(events))), maxBatchBytes: 150_000 });
    expect(handed).toEqual([["r1"]]);
    expect(await redis.llen(keys.events)).toBe(1);
  });

  it("moves malformed entries to the dead-letter list with the reason", async () => {
    await redis.lpush(keys.events, "{not json");
    await push("good");
    await redis.lpush(keys.events, JSON.stringify({ id: 1, type: "t" }));
    const handed: string[][] = [];
    const result = await drainOnce(
      redis,
      keys,
      options((events) => void handed.push(ids(events))),
    );
    expect(handed).toEqual([["good"]]);
    expect(result.deadLettered.map((d) => d.reason)).toEqual([expect.stringMatching(/not valid JSON/), expect.stringMatching(/"id"/)]);
    const letters = (await redis.lrange(keys.deadLetter, 0, -1)).map((l) => JSON.parse(l));
    expect(letters.map((l) => l.raw).sort()).toEqual(["{not json", JSON.stringify({ id: 1, type: "t" })].sort());
    expect(await redis.llen(keys.processing)).toBe(0);
  });

  it("does not call the hand-off for an empty queue", async () => {
    let called = false;
    const result = await drainOnce(
      redis,
      keys,
      options(() => void (called = true)),
    );
    expect(called).toBe(false);
    expect(result.claimed).toBe(0);
  });
});

describe("drainOnce over a group of batches (the consumer's backlog drain)", () => {
  const entriesOf = (claimed: Claimed | undefined) => claimed?.entries.map((raw) => JSON.parse(raw).id as string);
  const pushAll = async (list: string[]) => {
    for (const id of list) await push(id);
  };
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `g${from + i}`);

  it("claims the first batch of whatever waits and then only full ones, and acknowledges each batch on its own, oldest first", async () => {
    await pushAll(range(1, 11));
    const handed: string[][] = [];
    const group = { ...options((events) => void handed.push(ids(events)), 3), groupBatches: 4 };
    const first = await drainOnce(redis, keys, group);
    expect(first.next?.sizes).toEqual([3, 3]);
    expect(await redis.llen(keys.processing)).toBe(6);
    const second = await drainOnce(redis, keys, { ...group, claimed: first.next!, previousAck: first.ackToken! });
    expect(await redis.lrange(keys.processing, 0, -1).then((raws) => raws.map((raw) => JSON.parse(raw).id).reverse())).toEqual(range(7, 9));
    const third = await drainOnce(redis, keys, { ...group, claimed: second.next!, previousAck: second.ackToken! });
    expect(third.next).toBeUndefined();
    expect(await redis.llen(keys.processing)).toBe(0);
    // the two left over were too few for a full batch after the first: they wait, and go next
    expect(await redis.llen(keys.events)).toBe(2);
    await drainOnce(redis, keys, group);
    expect(handed).toEqual([range(1, 3), range(4, 6), range(7, 9), range(10, 11)]);
  });

  it("takes only full batches into a group while the host is busy", async () => {
    await pushAll(range(1, 4));
    const busy = { ...options(undefined, 2), groupBatches: 4, claimNext: (): NextClaim => "full" };
    const first = await drainOnce(redis, keys, busy);
    await pushAll(range(5, 9));
    const second = await drainOnce(redis, keys, { ...busy, claimed: first.next!, previousAck: first.ackToken! });
    expect(second.next?.sizes).toEqual([2, 2]);
    expect(entriesOf(second.next)).toEqual(range(5, 8));
    expect(await redis.lrange(keys.events, 0, -1)).toHaveLength(1);
  });

  it("does not hand off an id again that an earlier batch of the same group carried", async () => {
    await pushAll(["d1", "d2", "d3", "d1"]);
    const handed: string[][] = [];
    const group = { ...options((events) => void handed.push(ids(events)), 2), groupBatches: 2, handedOff: new HandedOff() };
    const first = await drainOnce(redis, keys, group);
    const second = await drainOnce(redis, keys, { ...group, claimed: first.next!, previousAck: first.ackToken! });
    expect(handed).toEqual([["d1", "d2"], ["d3"]]);
    expect(ids(second.acknowledgedAgain)).toEqual(["d1"]);
    expect(await redis.llen(keys.processing)).toBe(0);
  });

  it("hands off the batch in hand while the acknowledgement of the one before it is on its way, and claims the next group ahead", async () => {
    await pushAll(range(1, 13));
    const handed: string[][] = [];
    const acknowledgements: Promise<void>[] = [];
    const pipelined = {
      ...options((events) => void handed.push(ids(events)), 2),
      groupBatches: 3,
      handedOff: new HandedOff(),
      claimNext: (): NextClaim => "full",
      acknowledgeInBackground: (acknowledged: Promise<void>) => void acknowledgements.push(acknowledged),
    };
    const first = await drainOnce(redis, keys, pipelined);
    expect(first.next?.sizes).toEqual([2, 2]);
    expect(first.claiming).toBeDefined();
    const second = await drainOnce(redis, keys, { ...pipelined, claimed: first.next!, previousAck: first.ackToken!, claimInFlight: true });
    const third = await drainOnce(redis, keys, { ...pipelined, claimed: second.next!, previousAck: second.ackToken!, claimInFlight: true });
    expect(third.next).toBeUndefined();
    const ahead = await first.claiming!;
    expect(entriesOf(ahead)).toEqual(range(7, 12));
    await Promise.all(acknowledgements);
    // what is left in processing is the group claimed ahead, and only it
    expect(await redis.llen(keys.processing)).toBe(6);
    const fourth = await drainOnce(redis, keys, { ...pipelined, claimed: ahead!, previousAck: third.ackToken! });
    expect(fourth.claiming).toBeDefined();
    expect(entriesOf(await fourth.claiming)).toBeUndefined(); // g13 alone makes no full batch
    expect(handed).toEqual([range(1, 2), range(3, 4), range(5, 6), range(7, 8)]);
  });

  it("applies nothing when the acknowledgement sent before it did not apply", async () => {
    await pushAll(range(1, 4));
    const group = { ...options(undefined, 2), groupBatches: 2 };
    const first = await drainOnce(redis, keys, group);
    await expect(drainOnce(redis, keys, { ...group, claimed: first.next!, previousAck: "someone-else:1" })).rejects.toThrow(/did not apply/);
    expect(await redis.llen(keys.processing)).toBe(2);
    expect(await redis.get(keys.seenPrefix + "g3")).toBeNull();
  });

  it("claims nothing ahead when processing holds other entries than the batches in hand", async () => {
    await pushAll(range(1, 10));
    const acknowledgements: Promise<void>[] = [];
    let strays = 0;
    const pipelined = {
      // something else puts an entry into processing while the first batch is with the host
      ...options(async () => void (strays++ === 0 && (await redis.lpush(keys.processing, "{not the consumer's}"))), 2),
      groupBatches: 3,
      claimNext: (): NextClaim => "full",
      acknowledgeInBackground: (acknowledged: Promise<void>) => void acknowledgements.push(acknowledged),
    };
    const first = await drainOnce(redis, keys, pipelined);
    await expect(first.claiming).rejects.toThrow(/did not apply, or processing holds other entries/);
    await expect(acknowledgements[0]).rejects.toThrow(/acknowledging the batch failed/);
    expect(await redis.llen(keys.events)).toBe(4);
    expect(await redis.llen(keys.processing)).toBe(5);
  });
});

describe("HandedOff, the consumer's memory of ids it handed off", () => {
  it("forgets a batch's ids once `keep` later batches' acknowledgements landed, unless a later batch carried the id again", () => {
    const memory = new HandedOff();
    const first = memory.add(["a", "b"]);
    memory.add(["c"]);
    const third = memory.add(["b", "d"]);
    memory.landed(third, 2);
    expect([memory.has("a"), memory.has("b"), memory.has("c"), memory.has("d")]).toEqual([false, true, true, true]);
    expect(first).toBe(1);
    memory.landed(third + 2, 2);
    expect(memory.size).toBe(0);
    memory.add(["e"]);
    memory.clear();
    expect(memory.has("e")).toBe(false);
  });

  it("stays small over a long backlog drained by the consumer's pipeline", async () => {
    const memory = new HandedOff();
    const pipeline = redis.pipeline();
    for (let i = 0; i < 400; i++) pipeline.lpush(keys.events, JSON.stringify(createEvent({ id: `long-${i}`, type: "test", source: "unit" })));
    await pipeline.exec();
    const acknowledgements: Promise<void>[] = [];
    const pipelined = {
      ...options(undefined, 5),
      groupBatches: 4,
      handedOff: memory,
      claimNext: (): NextClaim => "full",
      acknowledgeInBackground: (acknowledged: Promise<void>) => void acknowledgements.push(acknowledged),
    };
    let claimed: Claimed | undefined;
    let claiming: Promise<Claimed | undefined> | undefined;
    let previousAck = "";
    let largest = 0;
    for (let drains = 0; drains < 80; drains++) {
      if (!claimed && claiming) [claimed, claiming] = [await claiming, undefined];
      const result = await drainOnce(redis, keys, { ...pipelined, ...(claimed ? { claimed } : {}), previousAck, claimInFlight: !!claiming });
      claimed = result.next;
      claiming = result.claiming ?? claiming;
      previousAck = result.ackToken ?? previousAck;
      largest = Math.max(largest, memory.size);
    }
    await Promise.all(acknowledgements);
    expect(await redis.llen(keys.events)).toBe(0);
    expect(await redis.llen(keys.processing)).toBe(0);
    // a few groups' worth of batches of 5 (ten kept, and those whose acknowledgement was on its way), not the 400 ids
    expect(largest).toBeLessThanOrEqual(20 * 5);
  });
});
