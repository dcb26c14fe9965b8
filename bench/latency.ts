// One event at a time, PUBLISH to the hand-off to pi: the first event a freshly loaded extension
// receives (its own process, nothing warmed up: what a pi just started does with its first
// event), beside the same session warm (after 2,000 events, as a pi that has been running).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { createEvent } from "../src/runtime/protocol/event.ts";
import { pushToSession } from "../src/runtime/protocol/push.ts";
import { SESSION, startHost, warmUp } from "./host.ts";
import { median, quantile, type Row } from "./rows.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const JITI = join(ROOT, "node_modules/jiti/lib/jiti-cli.mjs");
const WARM_EVENTS = 1000;
const COLD_RUNS = 7;

async function warmLatencies(redisUrl: string): Promise<number[]> {
  const bench = await startHost(redisUrl);
  const redis = new Redis(redisUrl);
  try {
    await warmUp(bench, redisUrl);
    const { host } = bench;
    const latencies: number[] = [];
    for (let i = 0; i < WARM_EVENTS; i++) {
      const event = createEvent({ id: `lat-${i}`, type: "bench", source: "bench" });
      const sentBefore = host.sent.length;
      const started = performance.now();
      await pushToSession(redis, { prefix: bench.prefix, sessionId: SESSION, event });
      await host.waitFor(() => host.sent.length > sentBefore, 5_000, `event ${i}`);
      latencies.push(host.sent.at(-1)!.at - started);
    }
    return latencies;
  } finally {
    redis.disconnect();
    await bench.close();
  }
}

/** The first event of a session in a new process: ms from this process's push to that process's hand-off (one wall clock). */
async function coldLatency(redis: Redis, redisUrl: string): Promise<number> {
  const child = spawn(process.execPath, [JITI, join(ROOT, "bench/cold-event.ts"), redisUrl], { stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  try {
    const ready = (await lines.next()).value as string | undefined;
    const prefix = ready?.match(/^ready (\S+)$/)?.[1];
    if (!prefix) throw new Error(`the cold session did not start (${ready})`);
    const event = createEvent({ type: "bench", source: "bench-cold" });
    const pushedAt = performance.timeOrigin + performance.now();
    await pushToSession(redis, { prefix, sessionId: SESSION, event });
    const handedOffAt = Number((await lines.next()).value);
    if (!Number.isFinite(handedOffAt)) throw new Error("the cold session did not say when it handed the event off");
    // it removes its extension dir before it exits
    if (child.exitCode === null) await once(child, "exit");
    return handedOffAt - pushedAt;
  } finally {
    if (child.exitCode === null) child.kill();
  }
}

export async function latencyRows(redisUrl: string): Promise<Row[]> {
  const redis = new Redis(redisUrl);
  const cold: number[] = [];
  try {
    await redis.ping();
    for (let i = 0; i < COLD_RUNS; i++) cold.push(await coldLatency(redis, redisUrl));
  } finally {
    redis.disconnect();
  }
  const warm = await warmLatencies(redisUrl);
  const p99 = quantile(warm, 0.99);
  return [
    {
      name: `cold: first event of a freshly loaded extension, PUBLISH -> sendUserMessage (median of ${COLD_RUNS} new processes)`,
      value: median(cold),
      unit: "ms",
    },
    { name: `warm: PUBLISH -> sendUserMessage p50 (${WARM_EVENTS} events after 2,000)`, value: quantile(warm, 0.5), unit: "ms" },
    { name: "warm: PUBLISH -> sendUserMessage p99", value: p99, unit: "ms", target: "< 5 ms", met: p99 < 5 },
    { name: "warm: PUBLISH -> sendUserMessage max", value: Math.max(...warm), unit: "ms" },
  ];
}
