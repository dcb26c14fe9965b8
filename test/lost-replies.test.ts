// A reply lost on the way back: the command ran in Redis, the connection broke before its answer
// arrived, and ioredis sends the command again once it has reconnected. What the consumer sends
// must survive running twice: no event lost, none handed over twice.
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, inject, it } from "vitest";
import { type ConsumerHost, QueueConsumer } from "../src/runtime/consumer/consumer.ts";
import { createEvent, type GatewayEvent } from "../src/runtime/protocol/event.ts";
import { sessionKeys } from "../src/runtime/protocol/keys.ts";
import { pushToSession } from "../src/runtime/protocol/push.ts";
import { randomPrefix } from "./helpers/extension-dir.ts";
import { type ReplyDroppingRedis, startReplyDroppingRedis } from "./helpers/reply-dropping-redis.ts";
import { waitFor } from "./helpers/wait.ts";

const redisUrl = inject("redisUrl");
const redis = new Redis(redisUrl);
afterAll(() => redis.disconnect());

/** Takes every batch at once and remembers what it got. */
class RecordingHost implements ConsumerHost {
  readonly taken: GatewayEvent[] = [];
  readonly notices: string[] = [];
  canTake = () => true;
  async take(events: GatewayEvent[]): Promise<void> {
    this.taken.push(...events);
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

describe("a lost reply to the consumer's acknowledgement", () => {
  it("neither loses the batch claimed with it nor hands one over twice", async () => {
    const prefix = randomPrefix();
    const keys = sessionKeys(prefix, "main");
    const ids = Array.from({ length: 30 }, (_, i) => `${prefix}-e${String(i).padStart(2, "0")}`);
    for (const id of ids) await pushToSession(redis, { prefix, sessionId: "main", event: createEvent({ id, type: "test", source: "unit" }) });
    proxy = await startReplyDroppingRedis(redisUrl);
    // only the acknowledgement of the second batch (e10..e19) names e15 on the way to Redis; by then
    // Redis knows the script, so the command that loses its reply is the one that ran
    const dropped = proxy.dropReplyTo(ids[15]!);
    const host = new RecordingHost();
    consumer = new QueueConsumer(
      { prefix, sessionId: "main", redisUrl: proxy.url, dedupeTtlSeconds: 600, maxBatch: 10, pollIntervalMs: 60_000 },
      host,
      {},
      { announceDefault: false },
    );
    consumer.start();
    await dropped;
    const settled = async () => (await redis.llen(keys.events)) + (await redis.llen(keys.processing)) === 0 && !consumer!.draining;
    await waitFor(settled, () => `the queue to empty (${host.taken.length} taken)`, 20_000);
    expect(host.taken.map((event) => event.id).sort()).toEqual(ids);
  });
});
