// The burst's producers, in their own process as real producers are: PRODUCERS clients connect,
// print "ready", wait for a line on stdin, push BURST_EVENTS events between them, and print the
// seconds that took. Run by bench/run.ts: producers.ts <redis url> <prefix> <id tag> <routed|pipelined>
import { Redis } from "ioredis";
import { createEvent } from "../src/protocol/event.ts";
import { sessionKeys } from "../src/protocol/keys.ts";
import { pushEvent } from "../src/protocol/route.ts";

export const BURST_EVENTS = 20_000;
export const PRODUCERS = 8;
export type Producing = "routed" | "pipelined";

/**
 * routed: what producers really do, one awaited pushEvent per event (routing and LPUSH + PUBLISH
 * in one round trip). pipelined: each producer's whole share in one pipeline of raw LPUSH +
 * PUBLISH to the known queue, no routing: what Redis and the drain can take.
 */
async function pushBurst(producers: Redis[], prefix: string, tag: string, producing: Producing): Promise<void> {
  const perProducer = BURST_EVENTS / producers.length;
  const keys = sessionKeys(prefix, "main");
  const event = (p: number, i: number) => createEvent({ id: `${tag}${p}-${i}`, type: "bench", source: `p${p}` });
  await Promise.all(
    producers.map(async (producer, p) => {
      if (producing === "routed") {
        for (let i = 0; i < perProducer; i++) {
          const routed = await pushEvent(producer, { prefix, event: event(p, i) });
          if (routed.targets.length !== 1 || routed.targets[0]!.sessionId !== "main") throw new Error(`routed to ${JSON.stringify(routed.targets)}, not main`);
        }
        return;
      }
      const pipeline = producer.pipeline();
      for (let i = 0; i < perProducer; i++) {
        const e = event(p, i);
        pipeline.lpush(keys.events, JSON.stringify(e)).publish(keys.notify, e.id);
      }
      await pipeline.exec();
    }),
  );
}

async function main(): Promise<void> {
  const [redisUrl, prefix, tag, producing] = process.argv.slice(2) as [string, string, string, Producing];
  const producers = Array.from({ length: PRODUCERS }, () => new Redis(redisUrl));
  await Promise.all(producers.map((producer) => producer.ping()));
  process.stdout.write("ready\n");
  await new Promise((resolve) => process.stdin.once("data", resolve));
  const started = performance.now();
  await pushBurst(producers, prefix, tag, producing);
  process.stdout.write(`${(performance.now() - started) / 1000}\n`);
  for (const producer of producers) producer.disconnect();
  process.stdin.destroy();
}

if (process.argv[1]?.endsWith("producers.ts")) await main();
