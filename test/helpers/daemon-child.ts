// A test-only daemon process: `node jiti-cli.mjs daemon-child.ts <config.json> <dir>`. Human inputs
// come from <dir>/inputs.jsonl (acknowledged into acked.jsonl), replies are appended to
// deliveries.jsonl, <dir>/ready-<pid> appears once it runs; SIGTERM shuts it down cleanly.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadDaemonConfig } from "../../src/runtime/daemon/config.ts";
import { startDaemon } from "../../src/runtime/daemon/daemon.ts";
import type { DaemonInput, InputSource, Origin } from "../../src/runtime/daemon/types.ts";

const [configPath, dir] = process.argv.slice(2) as [string, string];

function lines<T>(file: string): T[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as T);
}

const inputsFile = join(dir, "inputs.jsonl");
const ackedFile = join(dir, "acked.jsonl");
const source: InputSource = {
  async pending() {
    const acked = new Set(lines<string>(ackedFile));
    return lines<DaemonInput>(inputsFile).filter((input) => !acked.has(input.id));
  },
  onInput() {},
  async ack(input) {
    appendFileSync(ackedFile, `${JSON.stringify(input.id)}\n`);
  },
};

const daemon = await startDaemon(loadDaemonConfig(configPath), {
  inputs: [source],
  sink: {
    async deliver(origin: Origin, text: string) {
      appendFileSync(join(dir, "deliveries.jsonl"), `${JSON.stringify({ origin, text, pid: process.pid })}\n`);
    },
  },
  log: (line) => appendFileSync(join(dir, "daemon.log"), `${process.pid}: ${line}\n`),
});
process.on("SIGTERM", () => {
  void daemon.shutdown().then(() => process.exit(0));
});
writeFileSync(join(dir, `ready-${process.pid}`), "");
