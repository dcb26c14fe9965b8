// npm run bench: performance of the gateway against its own redis-server, printed as one table and
// written to bench/results.json. The run exits 1 and names what failed when anything is lost or
// duplicated or a target is missed.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { createEvent } from "../src/runtime/protocol/event.ts";
import { sessionKeys } from "../src/runtime/protocol/keys.ts";
import { pushToSession } from "../src/runtime/protocol/push.ts";
import { loadInstalledExtension, VerificationHost } from "../src/verify/host.ts";
import { createExtensionDir, randomPrefix } from "../test/helpers/extension-dir.ts";
import { installTier1 } from "../test/helpers/install.ts";
import { startRedisServer } from "../test/helpers/redis-server.ts";
import { daemonBench } from "./daemon.ts";
import { BURST_EVENTS, IN_FLIGHT, PRODUCERS, type Producing } from "./producers.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const CLI = join(ROOT, "bin/gateway-setup.js");
const JITI = join(ROOT, "node_modules/jiti/lib/jiti-cli.mjs");
const SINGLE_EVENTS = 1000;
const WARM_UP_EVENTS = 2000;
const RUNS = 10;

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const median = (values: number[]) =>
  quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  );

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
  await warmUp(host, redisUrl, prefix);
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

/** Starts the producers' process; resolves once every producer is connected. */
async function startProducers(redisUrl: string, prefix: string, tag: string, producing: Producing) {
  const child = spawn(process.execPath, [JITI, join(ROOT, "bench/producers.ts"), redisUrl, prefix, tag, producing], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.value !== "ready") throw new Error(`the producers did not start (${String(first.value)})`);
  return {
    /** starts the burst; resolves with the producers' own seconds once they all pushed their share */
    async go(): Promise<number> {
      child.stdin.end("go\n");
      const [done] = await Promise.all([lines.next(), once(child, "exit")]);
      if (child.exitCode !== 0) throw new Error(`the producers failed (exit ${child.exitCode})`);
      return Number(done.value);
    },
  };
}

/** the producers alone, with nobody consuming: the ceiling for the burst measurement on this machine */
async function pushRate(redisUrl: string, producing: Producing): Promise<number> {
  const producers = await startProducers(redisUrl, randomPrefix(), "r", producing);
  return Math.round(BURST_EVENTS / (await producers.go()));
}

/** pi loads the extension once and then runs warm: so does the bench's session before it is timed */
async function warmUp(host: VerificationHost, redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
  const keys = sessionKeys(prefix, "main");
  const pipeline = redis.pipeline();
  for (let i = 0; i < WARM_UP_EVENTS; i++) {
    const event = createEvent({ id: `warm-${i}`, type: "bench", source: "warm-up" });
    pipeline.lpush(keys.events, JSON.stringify(event)).publish(keys.notify, event.id);
  }
  await pipeline.exec();
  redis.disconnect();
  let seen = 0;
  let read = 0;
  await host.waitFor(
    () => {
      for (; read < host.sent.length; read++) seen += idsIn(host.sent[read]!.text).length;
      return seen >= WARM_UP_EVENTS;
    },
    60_000,
    "the warm-up events",
  );
}

async function burst(redisUrl: string, producing: Producing) {
  const { host, prefix } = await startHost(redisUrl);
  await warmUp(host, redisUrl, prefix);
  const warmMessages = host.sent.length;
  const producers = await startProducers(redisUrl, prefix, "b", producing);
  const started = performance.now();
  const pushed = producers.go();
  // count ids as messages arrive (re-reading every message on every change would cost more than the gateway)
  const delivered: string[] = [];
  const unique = new Set<string>();
  let read = warmMessages;
  await host
    .waitFor(
      () => {
        for (; read < host.sent.length; read++) {
          for (const id of idsIn(host.sent[read]!.text)) {
            delivered.push(id);
            unique.add(id);
          }
        }
        return unique.size >= BURST_EVENTS;
      },
      120_000,
      "the whole burst",
    )
    .catch(() => {});
  const seconds = ((host.sent.at(-1)?.at ?? performance.now()) - started) / 1000;
  await pushed;
  await host.shutdown();
  return {
    eventsPerSecond: Math.round(unique.size / seconds),
    lost: BURST_EVENTS - unique.size,
    duplicated: delivered.length - unique.size,
    messages: host.sent.length - warmMessages,
  };
}

type Row = { name: string; value: string; target?: string; met?: boolean };

const BURST_MODES: Producing[] = ["routed", "awaited", "pipelined"];
const BURST_LABELS: Record<Producing, string> = {
  routed: `burst: ${BURST_EVENTS} events, ${PRODUCERS} producers, routed by pushEvent, ${IN_FLIGHT} in flight each, delivered`,
  awaited: "burst, one awaited pushEvent at a time per producer, delivered",
  pipelined: "burst, pipelined: each producer's share in one pipeline, no routing, delivered",
};

/** the target applies to the routed burst; every burst must lose and duplicate nothing */
function burstRows(measured: { producing: Producing; eventsPerSecond: number; lost: number; duplicated: number; producerCeilingPerSecond: number }): Row[] {
  const { producing, eventsPerSecond, lost, duplicated, producerCeilingPerSecond } = measured;
  const throughput: Row = { name: BURST_LABELS[producing], value: `${eventsPerSecond} events/s` };
  return [
    producing === "routed" ? { ...throughput, target: ">= 20000/s", met: eventsPerSecond >= 20_000 } : { ...throughput, target: "for comparison" },
    { name: `  lost (${producing})`, value: String(lost), target: "0", met: lost === 0 },
    { name: `  duplicated (${producing})`, value: String(duplicated), target: "0", met: duplicated === 0 },
    { name: "  the same producers, nobody consuming", value: `${producerCeilingPerSecond} events/s`, target: "ceiling here" },
  ];
}

/** a cold start beside both references the issue names */
function coldStartRow(name: string, ms: number, node: number, redisCli: number, target?: { limit: number; text: string }): Row {
  return {
    name,
    value: `${ms.toFixed(1)} ms (${(ms / node).toFixed(2)}x node, ${(ms / redisCli).toFixed(2)}x redis-cli)`,
    ...(target ? { target: target.text, met: ms <= target.limit } : {}),
  };
}

function printTable(rows: Row[]): void {
  const width = Math.max(...rows.map((r) => r.name.length));
  const valueWidth = Math.max(...rows.map((r) => r.value.length));
  console.log(`\n${"measure".padEnd(width)}  ${"result".padEnd(valueWidth)}  target`);
  for (const { name, value, target = "", met } of rows) {
    console.log(`${name.padEnd(width)}  ${value.padEnd(valueWidth)}  ${target}${met === undefined ? "" : met ? "  ok" : "  MISSED"}`);
  }
}

async function main() {
  const server = await startRedisServer();
  try {
    const latency = await drainLatency(server.url);
    const daemon = await daemonBench(server.url, latency.p50);
    const bursts = [];
    for (const producing of BURST_MODES) bursts.push({ producing, ...(await burst(server.url, producing)) });
    const withCeilings = [];
    for (const measured of bursts) withCeilings.push({ ...measured, producerCeilingPerSecond: await pushRate(server.url, measured.producing) });
    const { env } = await installTier1(server.url);
    const cliEnv = { ...process.env, ...env };
    const node = timeCommand([process.execPath, "-e", "0"]);
    const redisCli = timeCommand(["redis-cli", "-p", String(server.port), "PING"]);
    const help = timeCommand([process.execPath, CLI, "--help"], cliEnv);
    const doctor = timeCommand([process.execPath, CLI, "doctor"], cliEnv);
    const doctorNoPi = timeCommand([process.execPath, CLI, "doctor", "--skip", "pi"], cliEnv);
    const push = timeCommand([process.execPath, CLI, "push", "bench.ping"], cliEnv);

    const rows: Row[] = [
      { name: "drain latency p50 (PUBLISH -> sendUserMessage)", value: `${latency.p50.toFixed(2)} ms` },
      { name: "drain latency p99", value: `${latency.p99.toFixed(2)} ms`, target: "< 5 ms", met: latency.p99 < 5 },
      { name: "drain latency max", value: `${latency.max.toFixed(2)} ms` },
      ...daemon.rows,
      ...withCeilings.flatMap((measured) => burstRows(measured)),
      { name: "node -e 0", value: `${node.toFixed(1)} ms`, target: "reference" },
      { name: "redis-cli PING", value: `${redisCli.toFixed(1)} ms`, target: "reference" },
      coldStartRow("gateway-setup --help", help, node, redisCli, { limit: 2 * node, text: "<= 2x node" }),
      coldStartRow("gateway-setup doctor", doctor, node, redisCli),
      coldStartRow("gateway-setup doctor --skip pi", doctorNoPi, node, redisCli),
      coldStartRow("gateway-setup push round trip", push, node, redisCli),
    ];
    printTable(rows);
    const results = {
      when: new Date().toISOString(),
      node: process.version,
      drainLatencyMs: latency,
      daemon: daemon.results,
      burst: {
        events: BURST_EVENTS,
        producers: PRODUCERS,
        inFlightPerProducer: IN_FLIGHT,
        ...Object.fromEntries(withCeilings.map(({ producing, ...measured }) => [producing, measured])),
      },
      coldStartMs: { node, redisCliPing: redisCli, help, doctor, doctorSkipPi: doctorNoPi, push },
      ratios: Object.fromEntries(
        Object.entries({ help, doctor, doctorSkipPi: doctorNoPi, push }).map(([name, ms]) => [name, { node: ms / node, redisCliPing: ms / redisCli }]),
      ),
    };
    mkdirSync(join(ROOT, "bench"), { recursive: true });
    writeFileSync(join(ROOT, "bench/results.json"), JSON.stringify(results, null, 2) + "\n");
    console.log("\nwritten to bench/results.json");
    const missed = rows.filter((row) => row.met === false);
    if (missed.length) {
      console.error(`\nbench failed: ${missed.map((row) => `${row.name.trim()} = ${row.value} (target ${row.target})`).join("; ")}`);
      process.exitCode = 1;
    }
  } finally {
    await server.stop();
  }
}

await main();
