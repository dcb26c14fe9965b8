// npm run bench: how fast the gateway is where users wait, on this machine, against its own
// redis-server. Every figure that has a target is a ratio to an anchor measured in the same run
// (node -e 0 beside each cold start, redis-benchmark beside each burst, a minimal consumer beside
// each backlog drain), because this kind of machine (2 shared cores) is never equally busy twice.
// Prints one table and writes bench/results.json (`npm run bench:table` puts it in the README).
// Timings are reported against their targets, never asserted: the run exits 1 only when an event
// was lost or delivered twice.
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startRedisServer } from "../test/helpers/redis-server.ts";
import { coldStartRows } from "./cold-starts.ts";
import { daemonRows } from "./daemon.ts";
import { formatRatio, formatValue } from "./format.mjs";
import { latencyRows } from "./latency.ts";
import { originRows } from "./origin.ts";
import type { Row } from "./rows.ts";
import { throughputRows } from "./throughput.ts";

const RESULTS = join(dirname(fileURLToPath(import.meta.url)), "results.json");

function printTable(rows: Row[]): void {
  const cells = rows.map((row) => [
    row.name,
    formatValue(row),
    formatRatio(row.ratio),
    row.target ?? "",
    row.met === undefined ? "" : row.met ? "met" : "MISSED",
  ]);
  const widths = [0, 1, 2, 3].map((column) => Math.max(...cells.map((cell) => cell[column]!.length)));
  for (const cell of cells)
    console.log(cell.map((text, column) => (column < 2 ? text.padEnd(widths[column]!) : column < 4 ? text.padStart(widths[column]!) : text)).join("  "));
}

const rounded = (value: number) => Number(value.toPrecision(4));

function resultRow({ name, value, unit, ratio, target, met }: Row) {
  return { name, value: rounded(value), unit, ...(ratio === undefined ? {} : { ratio: rounded(ratio) }), target: target ?? null, met: met ?? null };
}

// BENCH_ONLY=setup,daemon measures only the sections whose title holds one of those words, and leaves bench/results.json as it is
const only = process.env.BENCH_ONLY?.split(",").filter(Boolean);

async function main(): Promise<void> {
  const [oneMinute, fiveMinutes, fifteenMinutes] = loadavg();
  const machine = { cores: cpus().length, loadAverageAtStart: { oneMinute, fiveMinutes, fifteenMinutes }, node: process.version };
  const date = new Date().toISOString();
  const started = performance.now();
  const server = await startRedisServer();
  const rows: Row[] = [];
  try {
    const section = async (what: string, measure: () => Promise<Row[]>) => {
      if (only && !only.some((word) => what.includes(word))) return;
      const sectionStarted = performance.now();
      rows.push(...(await measure()));
      console.error(`bench: ${what} (${((performance.now() - sectionStarted) / 1000).toFixed(0)} s)`);
    };
    await section("setup and cold starts", () => coldStartRows(server.url));
    await section("event latency, cold and warm", () => latencyRows(server.url));
    await section("pushEvent with and without an origin", () => originRows(server.url));
    await section("burst and backlog drain against their limits", () => throughputRows(server.url, server.port));
    await section("tier 4's daemon", () => daemonRows(server.url));
  } finally {
    await server.stop();
  }
  const seconds = Math.round((performance.now() - started) / 1000);
  const loadAverageAtEnd = loadavg()[0]!;
  console.log(`\n${machine.cores} cores, load average ${oneMinute!.toFixed(2)} at the start, ${loadAverageAtEnd.toFixed(2)} at the end; ${seconds} s\n`);
  printTable(rows);
  const results = { date, machine: { ...machine, loadAverageAtEnd: { oneMinute: loadAverageAtEnd } }, seconds, rows: rows.map(resultRow) };
  if (only) console.log("\nBENCH_ONLY: bench/results.json left as it is");
  else {
    writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
    console.log("\nwritten to bench/results.json (the README's table: npm run bench:table)");
  }
  const wrong = rows.filter((row) => row.correctness && row.value !== 0);
  if (wrong.length) {
    console.error(`\nbench failed: ${wrong.map((row) => `${row.name.trim()} = ${row.value}`).join("; ")}`);
    process.exitCode = 1;
  }
}

await main();
