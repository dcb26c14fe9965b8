// The product's throughput as a ratio to the physical limit measured beside it, round by round:
// the routed burst against redis-benchmark's LPUSH (-c 8), the backlog drain of a freshly started
// session against the minimal ioredis consumer on the same number of pending events. Every burst
// and drain counts what it lost and what it delivered twice.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { sessionKeys } from "../src/runtime/protocol/keys.ts";
import { randomPrefix } from "../test/helpers/extension-dir.ts";
import { DeliveredIds, loadHost, SESSION, startHost, warmUp } from "./host.ts";
import { lostAndDuplicated, MINIMAL_BATCH, minimalConsumer, pushPending, redisBenchmarkLpush } from "./limits.ts";
import { BURST_EVENTS, burstIds, IN_FLIGHT, PRODUCERS } from "./producers.ts";
import { atLeast, countRow, median, pairedRatio, type Row } from "./rows.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const JITI = join(ROOT, "node_modules/jiti/lib/jiti-cli.mjs");
const BURST_ROUNDS = 7;
const DRAIN_ROUNDS = 3;
const PENDING = 100_000;

interface Counted {
  eventsPerSecond: number;
  lost: number;
  duplicated: number;
}

/** Starts the producers' process; resolves once every producer is connected and warm. */
async function startProducers(redisUrl: string, prefix: string, tag: string) {
  const child = spawn(process.execPath, [JITI, join(ROOT, "bench/producers.ts"), redisUrl, prefix, tag], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.value !== "ready") throw new Error(`the producers did not start (${String(first.value)})`);
  return {
    async go(): Promise<void> {
      child.stdin.end("go\n");
      await Promise.all([lines.next(), once(child, "exit")]);
      if (child.exitCode !== 0) throw new Error(`the producers failed (exit ${child.exitCode})`);
    },
  };
}

/** A warm session takes a 20,000-event burst from 8 producers; events/s from the go to the last hand-off. */
async function burst(redisUrl: string, round: number): Promise<Counted> {
  const bench = await startHost(redisUrl);
  try {
    await warmUp(bench, redisUrl);
    const tag = `b${round}-`;
    const producers = await startProducers(redisUrl, bench.prefix, tag);
    const delivered = new DeliveredIds(bench.host);
    const started = performance.now();
    const pushed = producers.go();
    await delivered.waitForUnique(BURST_EVENTS, 120_000, "the whole burst");
    const seconds = ((bench.host.sent.at(-1)?.at ?? performance.now()) - started) / 1000;
    await pushed;
    await delivered.settle(redisUrl, bench.prefix);
    return { eventsPerSecond: delivered.unique.size / seconds, ...lostAndDuplicated(burstIds(tag), delivered.ids) };
  } finally {
    await bench.close();
  }
}

/** A freshly loaded session starts on PENDING queued events; events/s from its start to the last hand-off. */
async function productDrain(redisUrl: string, round: number): Promise<Counted> {
  const bench = await loadHost(redisUrl);
  try {
    const pushed = await pushPending(redisUrl, sessionKeys(bench.prefix, SESSION), PENDING, `d${round}`);
    const delivered = new DeliveredIds(bench.host);
    const started = performance.now();
    await bench.start();
    await delivered.waitForUnique(PENDING, 180_000, "the whole backlog");
    const seconds = ((bench.host.sent.at(-1)?.at ?? performance.now()) - started) / 1000;
    await delivered.settle(redisUrl, bench.prefix);
    return { eventsPerSecond: delivered.unique.size / seconds, ...lostAndDuplicated(pushed, delivered.ids) };
  } finally {
    await bench.close();
  }
}

async function minimalDrain(redisUrl: string, round: number): Promise<Counted> {
  const keys = sessionKeys(randomPrefix(), SESSION);
  const pushed = await pushPending(redisUrl, keys, PENDING, `m${round}`);
  const { seconds, ids } = await minimalConsumer(redisUrl, keys);
  return { eventsPerSecond: ids.length / seconds, ...lostAndDuplicated(pushed, ids) };
}

const sum = (counted: Counted[], field: "lost" | "duplicated") => counted.reduce((total, c) => total + c[field], 0);

export async function throughputRows(redisUrl: string, port: number): Promise<Row[]> {
  const lpush: number[] = [];
  const bursts: Counted[] = [];
  for (let round = 0; round < BURST_ROUNDS; round++) {
    // the limit first in even rounds, second in odd ones
    if (round % 2 === 0) lpush.push(redisBenchmarkLpush(port));
    bursts.push(await burst(redisUrl, round));
    if (round % 2 === 1) lpush.push(redisBenchmarkLpush(port));
  }
  const minimal: Counted[] = [];
  const drains: Counted[] = [];
  for (let round = 0; round < DRAIN_ROUNDS; round++) {
    if (round % 2 === 0) minimal.push(await minimalDrain(redisUrl, round));
    drains.push(await productDrain(redisUrl, round));
    if (round % 2 === 1) minimal.push(await minimalDrain(redisUrl, round));
  }
  const rate = (counted: Counted[]) => median(counted.map((c) => c.eventsPerSecond));
  const burstRates = bursts.map((b) => b.eventsPerSecond);
  const drainRates = drains.map((d) => d.eventsPerSecond);
  const minimalRates = minimal.map((m) => m.eventsPerSecond);
  const burstName = `routed burst: ${BURST_EVENTS} events, ${PRODUCERS} producers, ${IN_FLIGHT} pushEvent in flight each, delivered (${BURST_ROUNDS} rounds)`;
  return [
    { name: "redis-benchmark -c 8 -t lpush (the burst's anchor)", value: median(lpush), unit: "ops/s" },
    atLeast({ name: burstName, value: rate(bursts), unit: "events/s", ratio: pairedRatio(burstRates, lpush) }, 0.5, "redis-benchmark LPUSH"),
    countRow("  lost (routed bursts)", sum(bursts, "lost")),
    countRow("  duplicated (routed bursts)", sum(bursts, "duplicated")),
    {
      name: `minimal ioredis consumer: ${MINIMAL_BATCH} LMOVE + LRANGE per MULTI, ${PENDING} pending (the drain's anchor)`,
      value: rate(minimal),
      unit: "events/s",
    },
    countRow("  lost (minimal consumer)", sum(minimal, "lost")),
    countRow("  duplicated (minimal consumer)", sum(minimal, "duplicated")),
    atLeast(
      {
        name: `backlog drain: a session starting on ${PENDING} pending (${DRAIN_ROUNDS} rounds)`,
        value: rate(drains),
        unit: "events/s",
        ratio: pairedRatio(drainRates, minimalRates),
      },
      0.9,
      "the minimal consumer",
    ),
    countRow("  lost (backlog drains)", sum(drains, "lost")),
    countRow("  duplicated (backlog drains)", sum(drains, "duplicated")),
  ];
}
