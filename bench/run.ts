// npm run bench: performance of the gateway against its own redis-server, printed as one table and
// written to bench/results.json. Correctness (nothing lost, nothing duplicated) fails the run;
// the speed targets are reported beside the measurements.
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { createEvent } from "../src/protocol/event.ts";
import { sessionKeys } from "../src/protocol/keys.ts";
import { pushToSession } from "../src/protocol/push.ts";
import { loadInstalledExtension, VerificationHost } from "../src/verify/host.ts";
import { createExtensionDir, randomPrefix } from "../test/helpers/extension-dir.ts";
import { installTier1 } from "../test/helpers/install.ts";
import { startRedisServer } from "../test/helpers/redis-server.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const CLI = join(ROOT, "bin/gateway-setup.js");
const SINGLE_EVENTS = 1000;
const BURST_EVENTS = 20_000;
const PRODUCERS = 8;
const RUNS = 10;

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const median = (values: number[]) => quantile([...values].sort((a, b) => a - b), 0.5);

function timeCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): number {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    const result = spawnSync(argv[0]!, argv.slice(1), { env, stdio: "ignore" });
    if (result.error) throw result.error;
    samples.push(performance.now() - started);
  }
  return median(samples);
}

async function startHost(redisUrl: string) {
  const prefix = randomPrefix();
  const mod = await loadInstalledExtension(createExtensionDir({ prefix, redisUrl }));
  const host = new VerificationHost();
  await host.load(mod.createGatewayExtension({ ...mod.gatewayConfig }));
  await host.startSession();
  await host.waitFor(() => host.statuses.get("gateway")?.startsWith("gateway: listening") === true, 10_000, "listening");
  return { host, prefix };
}

const idsIn = (text: string) => [...text.matchAll(/ · id (\S+) · /g)].map((match) => match[1]!);

async function drainLatency(redisUrl: string) {
  const { host, prefix } = await startHost(redisUrl);
  const redis = new Redis(redisUrl);
  const latencies: number[] = [];
  for (let i = 0; i < SINGLE_EVENTS; i++) {
    const event = createEvent({ id: `lat-${i}`, type: "bench", source: "bench" });
    const sentBefore = host.sent.length;
    const started = performance.now();
    await pushToSession(redis, { prefix, sessionId: "main", event });
    await host.waitFor(() => host.sent.length > sentBefore, 5_000, `event ${i}`);
    latencies.push(host.sent.at(-1)!.at - started);
  }
  redis.disconnect();
  await host.shutdown();
  const sorted = latencies.sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1)! };
}

/**
 * 8 producers, each sending its share in one pipeline: LPUSH + PUBLISH per event, exactly the
 * protocol's commands, but without paying a client round trip per event on this shared machine
 */
async function pushBurst(producers: Redis[], prefix: string, tag: string): Promise<void> {
  const perProducer = BURST_EVENTS / producers.length;
  const keys = sessionKeys(prefix, "main");
  await Promise.all(
    producers.map((producer, p) => {
      const pipeline = producer.pipeline();
      for (let i = 0; i < perProducer; i++) {
        const event = createEvent({ id: `${tag}${p}-${i}`, type: "bench", source: `p${p}` });
        pipeline.lpush(keys.events, JSON.stringify(event)).publish(keys.notify, event.id);
      }
      return pipeline.exec();
    }),
  );
}

/** the producers alone, with nobody consuming: the ceiling for the burst measurement on this machine */
async function pushRate(redisUrl: string): Promise<number> {
  const producers = Array.from({ length: PRODUCERS }, () => new Redis(redisUrl));
  const started = performance.now();
  await pushBurst(producers, randomPrefix(), "r");
  const seconds = (performance.now() - started) / 1000;
  for (const producer of producers) producer.disconnect();
  return Math.round(BURST_EVENTS / seconds);
}

async function burst(redisUrl: string) {
  const { host, prefix } = await startHost(redisUrl);
  const producers = Array.from({ length: PRODUCERS }, () => new Redis(redisUrl));
  const started = performance.now();
  await pushBurst(producers, prefix, "b");
  // count ids as messages arrive (re-reading every message on every change would cost more than the gateway)
  const delivered: string[] = [];
  const unique = new Set<string>();
  let read = 0;
  await host
    .waitFor(() => {
      for (; read < host.sent.length; read++) {
        for (const id of idsIn(host.sent[read]!.text)) {
          delivered.push(id);
          unique.add(id);
        }
      }
      return unique.size >= BURST_EVENTS;
    }, 120_000, "the whole burst")
    .catch(() => {});
  const seconds = ((host.sent.at(-1)?.at ?? performance.now()) - started) / 1000;
  for (const producer of producers) producer.disconnect();
  await host.shutdown();
  return { eventsPerSecond: Math.round(unique.size / seconds), lost: BURST_EVENTS - unique.size, duplicated: delivered.length - unique.size, messages: host.sent.length };
}

async function main() {
  const server = await startRedisServer();
  try {
    const latency = await drainLatency(server.url);
    const flood = await burst(server.url);
    const producerCeiling = await pushRate(server.url);
    const { env } = await installTier1(server.url);
    const nodeBaseline = timeCommand([process.execPath, "-e", "0"]);
    const redisCli = timeCommand(["redis-cli", "-p", String(server.port), "PING"]);
    const help = timeCommand([process.execPath, CLI, "--help"], { ...process.env, ...env });
    const doctor = timeCommand([process.execPath, CLI, "doctor", "--skip", "pi"], { ...process.env, ...env });
    const push = timeCommand([process.execPath, CLI, "push", "bench.ping"], { ...process.env, ...env });

    const rows: [string, string, string, boolean | undefined][] = [
      ["drain latency p50 (PUBLISH -> sendUserMessage)", `${latency.p50.toFixed(2)} ms`, "", undefined],
      ["drain latency p99", `${latency.p99.toFixed(2)} ms`, "< 5 ms", latency.p99 < 5],
      ["drain latency max", `${latency.max.toFixed(2)} ms`, "", undefined],
      [`burst: ${BURST_EVENTS} events, ${PRODUCERS} producers, delivered`, `${flood.eventsPerSecond} events/s`, ">= 20000/s", flood.eventsPerSecond >= 20_000],
      ["  the same producers, nobody consuming", `${producerCeiling} events/s`, "ceiling here", undefined],
      ["burst: lost", String(flood.lost), "0", flood.lost === 0],
      ["burst: duplicated", String(flood.duplicated), "0", flood.duplicated === 0],
      ["node -e 0", `${nodeBaseline.toFixed(1)} ms`, "baseline", undefined],
      ["redis-cli PING", `${redisCli.toFixed(1)} ms`, "reference", undefined],
      ["gateway-setup --help", `${help.toFixed(1)} ms (${(help / nodeBaseline).toFixed(2)}x node)`, "<= 2x node", help <= 2 * nodeBaseline],
      ["gateway-setup doctor", `${doctor.toFixed(1)} ms (${(doctor / nodeBaseline).toFixed(2)}x node)`, "", undefined],
      ["gateway-setup push round trip", `${push.toFixed(1)} ms (${(push / nodeBaseline).toFixed(2)}x node)`, "", undefined],
    ];
    const width = Math.max(...rows.map((r) => r[0].length));
    console.log(`\n${"measure".padEnd(width)}  ${"result".padEnd(32)}  target`);
    for (const [name, value, target, met] of rows) {
      console.log(`${name.padEnd(width)}  ${value.padEnd(32)}  ${target}${met === undefined ? "" : met ? "  ok" : "  MISSED"}`);
    }
    const results = {
      when: new Date().toISOString(),
      node: process.version,
      drainLatencyMs: latency,
      burst: { events: BURST_EVENTS, producers: PRODUCERS, ...flood, producerCeilingPerSecond: producerCeiling },
      coldStartMs: { node: nodeBaseline, redisCliPing: redisCli, help, doctor, push },
      ratios: { help: help / nodeBaseline, doctor: doctor / nodeBaseline, push: push / nodeBaseline },
    };
    mkdirSync(join(ROOT, "bench"), { recursive: true });
    writeFileSync(join(ROOT, "bench/results.json"), JSON.stringify(results, null, 2) + "\n");
    console.log("\nwritten to bench/results.json");
    if (flood.lost || flood.duplicated) process.exitCode = 1;
  } finally {
    await server.stop();
  }
}

await main();
