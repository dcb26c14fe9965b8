// The burst's producers, in their own process as real producers are: PRODUCERS clients connect,
// print "ready", wait for a line on stdin, push BURST_EVENTS events between them, and print the
// seconds that took; before "ready" they warm up on a throw-away queue. Run by bench/run.ts:
// producers.ts <redis url> <prefix> <id tag> <routed|awaited|pipelined>
import { Redis } from "ioredis";
import { createEvent } from "../src/runtime/protocol/event.ts";
import { sessionKeys } from "../src/runtime/protocol/keys.ts";
import { pushEvent } from "../src/runtime/protocol/route.ts";

export const BURST_EVENTS = 20_000;
export const PRODUCERS = 8;
/** routed pushes each producer keeps in flight, as a producer serving concurrent requests does */
export const IN_FLIGHT = 16;
const WARM_UP_EVENTS = 2_000;
export type Producing = "routed" | "awaited" | "pipelined";

/**
 * routed: each producer sends its share through pushEvent (routing, LPUSH + PUBLISH in one
 * script), IN_FLIGHT at a time. awaited: the same, one awaited push at a time: every event waits
 * a full round trip, so this measures the round trip more than the gateway. pipelined: each
 * producer's whole share in one pipeline of raw LPUSH + PUBLISH to the known queue, no routing:
 * what Redis and the drain can take.
 */
async function pushBurst(producers: Redis[], prefix: string, tag: string, producing: Producing, events = BURST_EVENTS): Promise<void> {
  const perProducer = events / producers.length;
  const keys = sessionKeys(prefix, "main");
  const event = (p: number, i: number) => createEvent({ id: `${tag}${p}-${i}`, type: "bench", source: `p${p}` });
  const routed = async (producer: Redis, p: number, i: number) => {
    const { targets } = await pushEvent(producer, { prefix, event: event(p, i) });
    if (targets.length !== 1 || targets[0]!.sessionId !== "main") throw new Error(`routed to ${JSON.stringify(targets)}, not main`);
  };
  await Promise.all(
    producers.map(async (producer, p) => {
      if (producing === "pipelined") {
        const pipeline = producer.pipeline();
        for (let i = 0; i < perProducer; i++) {
          const e = event(p, i);
          pipeline.lpush(keys.events, JSON.stringify(e)).publish(keys.notify, e.id);
        }
        await pipeline.exec();
        return;
      }
      let next = 0;
      const lane = async () => {
        while (next < perProducer) await routed(producer, p, next++);
      };
      await Promise.all(Array.from({ length: producing === "routed" ? IN_FLIGHT : 1 }, lane));
    }),
  );
}

async function main(): Promise<void> {
  const [redisUrl, prefix, tag, producing] = process.argv.slice(2) as [string, string, string, Producing];
  const producers = Array.from({ length: PRODUCERS }, () => new Redis(redisUrl));
  await Promise.all(producers.map((producer) => producer.ping()));
  // a cold process runs its first thousand pushes unoptimized: warm up on a queue nobody reads
  const warmUpPrefix = `${prefix}warmup`;
  await pushBurst(producers, warmUpPrefix, tag, producing, WARM_UP_EVENTS);
  await producers[0]!.del(sessionKeys(warmUpPrefix, "main").events);
  process.stdout.write("ready\n");
  await new Promise((resolve) => process.stdin.once("data", resolve));
  const started = performance.now();
  await pushBurst(producers, prefix, tag, producing);
  process.stdout.write(`${(performance.now() - started) / 1000}\n`);
  for (const producer of producers) producer.disconnect();
  process.stdin.destroy();
}

if (process.argv[1]?.endsWith("producers.ts")) await main();
