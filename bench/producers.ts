// The burst's producers, in their own process as real producers are: PRODUCERS clients connect,
// warm up on a throw-away queue, print "ready", wait for a line on stdin, push BURST_EVENTS events
// between them through the routed pushEvent (IN_FLIGHT at a time each, as a producer serving
// concurrent requests does), and print the seconds that took. Run by bench/burst.ts:
// producers.ts <redis url> <prefix> <id tag>
import { Redis } from "ioredis";
import { createEvent } from "../src/runtime/protocol/event.ts";
import { sessionKeys } from "../src/runtime/protocol/keys.ts";
import { pushEvent } from "../src/runtime/protocol/route.ts";

export const BURST_EVENTS = 20_000;
export const PRODUCERS = 8;
export const IN_FLIGHT = 16;
const WARM_UP_EVENTS = 2_000;

const eventId = (tag: string, producer: number, i: number) => `${tag}${producer}-${i}`;

/** every id a burst with this tag pushes */
export function burstIds(tag: string): string[] {
  const perProducer = BURST_EVENTS / PRODUCERS;
  return Array.from({ length: BURST_EVENTS }, (_, n) => eventId(tag, Math.floor(n / perProducer), n % perProducer));
}

async function pushBurst(producers: Redis[], prefix: string, tag: string, events = BURST_EVENTS): Promise<void> {
  const perProducer = events / producers.length;
  await Promise.all(
    producers.map(async (producer, p) => {
      let next = 0;
      const lane = async () => {
        while (next < perProducer) {
          const event = createEvent({ id: eventId(tag, p, next++), type: "bench", source: `p${p}` });
          const { targets } = await pushEvent(producer, { prefix, event });
          if (targets.length !== 1 || targets[0]!.sessionId !== "main") throw new Error(`routed to ${JSON.stringify(targets)}, not main`);
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
    }),
  );
}

async function main(): Promise<void> {
  const [redisUrl, prefix, tag] = process.argv.slice(2) as [string, string, string];
  const producers = Array.from({ length: PRODUCERS }, () => new Redis(redisUrl));
  await Promise.all(producers.map((producer) => producer.ping()));
  // a cold process runs its first thousand pushes unoptimized: warm up on a queue nobody reads
  const warmUpPrefix = `${prefix}warmup`;
  await pushBurst(producers, warmUpPrefix, tag, WARM_UP_EVENTS);
  await producers[0]!.del(sessionKeys(warmUpPrefix, "main").events);
  process.stdout.write("ready\n");
  await new Promise((resolve) => process.stdin.once("data", resolve));
  const started = performance.now();
  await pushBurst(producers, prefix, tag);
  process.stdout.write(`${(performance.now() - started) / 1000}\n`);
  for (const producer of producers) producer.disconnect();
  process.stdin.destroy();
}

if (process.argv[1]?.endsWith("producers.ts")) await main();
