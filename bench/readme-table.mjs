// npm run bench:table: rewrites the benchmark table in README.md (between the two bench-table
// markers) from bench/results.json, so the README shows what the last `npm run bench` measured.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { formatRatio, formatValue } from "./format.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const README = join(ROOT, "README.md");
const START = "<!-- bench-table:start";
const END = "<!-- bench-table:end -->";

const met = (row) => (row.met === null ? "" : row.met ? "yes" : "**no**");
const cell = (text) => String(text).replaceAll("|", "\\|");

function benchTable(results) {
  const { date, machine, seconds, rows } = results;
  const end = machine.loadAverageAtEnd ? `, ${machine.loadAverageAtEnd.oneMinute.toFixed(2)} at the end` : "";
  const load = `${machine.loadAverageAtStart.oneMinute.toFixed(2)} at the start${end}`;
  const lines = [
    `${START} (written by \`npm run bench:table\` from bench/results.json; edits here are overwritten) -->`,
    `Measured ${date.slice(0, 10)} on ${machine.cores} cores (one-minute load average ${load}), Node ${machine.node}; the run took ${seconds} s.`,
    "",
    "| measure | result | ratio | target | met |",
    "|---|--:|--:|---|---|",
    ...rows.map((row) => `| ${[row.name.trim(), formatValue(row), formatRatio(row.ratio), row.target ?? "", met(row)].map(cell).join(" | ")} |`),
    END,
  ];
  return lines.join("\n");
}

function main() {
  const results = JSON.parse(readFileSync(join(ROOT, "bench/results.json"), "utf8"));
  const readme = readFileSync(README, "utf8");
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md has no ${START} ... ${END} block to rewrite`);
  writeFileSync(README, readme.slice(0, start) + benchTable(results) + readme.slice(end + END.length));
  console.log("README.md: benchmark table rewritten from bench/results.json");
}

main();
