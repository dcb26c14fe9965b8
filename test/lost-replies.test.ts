// The consumer's drain when replies go missing or the pipeline falls out of step: the command ran
// in Redis, the connection broke before its answer arrived, and ioredis sends the command again
// once it has reconnected. A backlog drains in groups of batches, each batch acknowledged while
// the next goes to the host, and the next group claimed ahead: whichever reply is lost, and
// whatever else lands in processing, no event is lost and none handed over twice.
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, inject, it } from "vitest";
import { type ConsumerHost, QueueConsumer } from "../src/runtime/consumer/consumer.ts";
import { createEvent, type GatewayEvent } from "../src/runtime/protocol/event.ts";
import { type SessionKeys, sessionKeys } from "../src/runtime/protocol/keys.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { type ReplyDroppingRedis, startReplyDroppingRedis } from "./helpers/reply-dropping-redis.ts";
import { waitFor } from "./helpers/wait.ts";

const redisUrl = inject("redisUrl");
const redis = new Redis(redisUrl);
afterAll(() => redis.disconnect());

/** Takes every batch at once and remembers what it got. */
class RecordingHost implements ConsumerHost {
  readonly batches: string[][] = [];
  readonly notices: string[] = [];
  constructor(private readonly onTake: (batch: number) => Promise<void> | void = () => {}) {}
  canTake = () => true;
  async take(events: GatewayEvent[]): Promise<void> {
    this.batches.push(events.map((event) => event.id));
    await this.onTake(this.batches.length);
  }
  get taken(): string[] {
    return this.batches.flat();
  }
  stateChanged(): void {}
  notify(message: string): void {
    this.notices.push(message);
  }
}

let proxy: ReplyDroppingRedis | undefined;
let consumer: QueueConsumer | undefined;
afterEach(async () => {
  await consumer?.stop();
  await proxy?.close();
});

/** `count` events, oldest first, pushed in one go (the ids sort in push order). */
async function pushBacklog(prefix: string, count: number, idOf = (i: number) => `${prefix}-e${String(i).padStart(3, "0")}`): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => idOf(i));
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.lpush(sessionKeys(prefix, "main").events, JSON.stringify(createEvent({ id, type: "test", source: "unit" })));
  await pipeline.exec();
  return ids;
}

function startConsumer(prefix: string, url: string, host: ConsumerHost): QueueConsumer {
  consumer = new QueueConsumer(
    { prefix, sessionId: "main", redisUrl: url, dedupeTtlSeconds: 600, maxBatch: 10, pollIntervalMs: 60_000 },
    host,
    {},
    { announceDefault: false },
  );
  consumer.start();
  return consumer;
}

/** Both lists empty and no drain under way: whatever will be handed over has been. */
const settled = (keys: SessionKeys) => async () => (await redis.llen(keys.events)) + (await redis.llen(keys.processing)) === 0 && !consumer!.draining;

describe("a lost reply to one of the consumer's acknowledgements", () => {
  // 100 events in batches of 10: the first group is e000-e039 (four batches), and the
  // acknowledgement of its first batch claims the next group ahead
  const cases = [
    { which: "the one that claims the next group ahead (the group's first batch)", marker: 5 },
    { which: "one in the middle of a group, sent while the next batch goes to the host", marker: 15 },
    { which: "the group's last batch's", marker: 35 },
    { which: "the first of the group claimed ahead", marker: 45 },
  ];
  for (const { which, marker } of cases) {
    it(`${which}: nothing lost, nothing handed over twice`, async () => {
      const prefix = randomPrefix();
      const keys = sessionKeys(prefix, "main");
      // Redis knows the scripts after a first drain, so the command that loses its reply is the one that ran
      const warm = await pushBacklog(prefix, 20, (i) => `${prefix}-warm-${i}`);
      proxy = await startReplyDroppingRedis(redisUrl);
      const host = new RecordingHost();
      startConsumer(prefix, proxy.url, host);
      await waitFor(settled(keys), "the warm-up to drain");
      const ids = await pushBacklog(prefix, 100);
      // only the acknowledgement of the batch with this event names it on the way to Redis
      const dropped = proxy.dropReplyTo(ids[marker]!);
      await redis.publish(keys.notify, "x");
      await dropped;
      await waitFor(settled(keys), () => `the queue to empty (${host.taken.length} taken)`, 20_000);
      expect(host.taken).toEqual([...warm, ...ids]);
    });
  }
});

describe("the consumer's pipeline out of step", () => {
  it("recovers when something else puts an entry into processing mid-group: claims afresh, loses nothing, hands nothing over twice", async () => {
    const prefix = randomPrefix();
    const keys = sessionKeys(prefix, "main");
    const ids = await pushBacklog(prefix, 100);
    const host = new RecordingHost(async (batch) => {
      if (batch === 1) await redis.lpush(keys.processing, JSON.stringify(createEvent({ id: `${prefix}-stray`, type: "test", source: "unit" })));
    });
    startConsumer(prefix, redisUrl, host);
    await waitFor(settled(keys), () => `the queue to empty (${host.taken.length} taken)`, 20_000);
    expect([...host.taken].sort()).toEqual([...ids, `${prefix}-stray`].sort());
    expect(new Set(host.taken).size).toBe(host.taken.length);
  });

  it("hands an event pushed twice over once, whichever batch, group or group claimed ahead its copies fall in", async () => {
    const prefix = randomPrefix();
    const keys = sessionKeys(prefix, "main");
    // every event twice, the copy 15 entries after the first: in the same batch, the next one, or the next group
    const order = Array.from({ length: 200 }, (_, i) => `${prefix}-d${String(i).padStart(3, "0")}`);
    const pushed = [...order.flatMap((id, i) => (i >= 15 ? [id, order[i - 15]!] : [id])), ...order.slice(-15)];
    const pipeline = redis.pipeline();
    for (const id of pushed) pipeline.lpush(keys.events, JSON.stringify(createEvent({ id, type: "test", source: "unit" })));
    await pipeline.exec();
    const host = new RecordingHost();
    startConsumer(prefix, redisUrl, host);
    await waitFor(settled(keys), () => `the queue to empty (${host.taken.length} taken)`, 20_000);
    expect(host.taken).toEqual(order);
    const marks = await redis.mget(...order.map((id) => keys.seenPrefix + id));
    expect(marks.filter((mark) => mark === null)).toEqual([]);
  });
});
