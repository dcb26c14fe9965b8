// What users wait for at the command line, as ratios to `node -e 0` timed beside it run by run
// (each pair in alternating order), so a machine that gets busier or quieter mid-run moves both
// sides of every ratio: setup (fresh into a new HOME, then a re-run that changes nothing) and the
// cold starts of --help, push, doctor --json and status on that tier-1 install.
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { CLI, createSandbox, type Sandbox } from "../test/helpers/cli.ts";
import { randomPrefix } from "../test/helpers/extension-dir.ts";
import { atMost, median, pairedRatio, type Row } from "./rows.ts";

const SETUP_ROUNDS = 11;
// One pair's ratio spreads widely on this 2-core machine (a push's deciles: 1.19x to 1.82x over 201
// pairs). The median of 31 pairs then varies by ~0.05x (bootstrap), more than a push's margin; of 101, by ~0.03x.
const COLD_START_ROUNDS = 101;
const NODE = "node -e 0";

interface Timed {
  ms: number;
  status: number | null;
  stderr: string;
}

/** `NODE_DISABLE_COMPILE_CACHE=1 npm run bench`: the CLI without its code cache (src/cli/compile-cache.ts) */
const noCodeCache = process.env.NODE_DISABLE_COMPILE_CACHE ? { NODE_DISABLE_COMPILE_CACHE: process.env.NODE_DISABLE_COMPILE_CACHE } : {};

function run(argv: string[], sandbox: Sandbox): Timed {
  const started = performance.now();
  const env = { ...sandbox.env, ...noCodeCache };
  const result = spawnSync(argv[0]!, argv.slice(1), { env, cwd: sandbox.home, stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  const ms = performance.now() - started;
  if (result.error) throw result.error;
  return { ms, status: result.status, stderr: result.stderr };
}

const nodeAlone = (sandbox: Sandbox) => run([process.execPath, "-e", "0"], sandbox).ms;
const cli = (args: string[]) => [process.execPath, CLI, ...args];

/** Times `measure` beside `node -e 0`, node first in even rounds and second in odd ones. */
function paired(round: number, sandbox: Sandbox, measure: () => Timed): { ms: number; node: number } {
  if (round % 2 === 0) {
    const node = nodeAlone(sandbox);
    return { node, ms: measure().ms };
  }
  const { ms } = measure();
  return { ms, node: nodeAlone(sandbox) };
}

function mustSucceed(what: string, timed: Timed): Timed {
  if (timed.status !== 0) throw new Error(`${what} exited ${timed.status}: ${timed.stderr.trim().slice(-2000)}`);
  return timed;
}

function removeSandbox(sandbox: Sandbox): void {
  for (const dir of [sandbox.home, sandbox.bin, sandbox.env.TMUX_TMPDIR!]) rmSync(dir, { recursive: true, force: true });
}

interface Series {
  ms: number[];
  node: number[];
}
const series = (): Series => ({ ms: [], node: [] });
function add(into: Series, sample: { ms: number; node: number }): void {
  into.ms.push(sample.ms);
  into.node.push(sample.node);
}

function ratioRow(name: string, measured: Series, limit: number): Row {
  return atMost({ name, value: median(measured.ms), unit: "ms", ratio: pairedRatio(measured.ms, measured.node) }, limit, NODE);
}

/** Setup rows, then the cold starts on the last round's install; every sandbox is removed. */
export async function coldStartRows(redisUrl: string): Promise<Row[]> {
  const fresh = series();
  const rerun = series();
  const nodeRuns: number[] = [];
  let installed: Sandbox | undefined;
  try {
    for (let round = 0; round < SETUP_ROUNDS; round++) {
      if (installed) removeSandbox(installed);
      const sandbox = createSandbox();
      installed = sandbox;
      const setup = cli(["--tier", "1", "--yes", "--redis-url", redisUrl, "--prefix", randomPrefix()]);
      add(
        fresh,
        paired(round, sandbox, () => mustSucceed("setup --tier 1 --yes", run(setup, sandbox))),
      );
      add(
        rerun,
        paired(round, sandbox, () => mustSucceed("the no-change re-run of setup", run(setup, sandbox))),
      );
    }
    const sandbox = installed!;
    const commands: [string, string[], number][] = [
      ["gateway-setup --help", ["--help"], 1.2],
      ["gateway-setup push (tier-1 install)", ["push", "bench.ping"], 1.5],
      ["gateway-setup doctor --json (tier-1 install)", ["doctor", "--json"], 2],
      ["gateway-setup status (tier-1 install)", ["status"], 2],
    ];
    const measured = commands.map(series);
    /** the first failure of each command, said after the table: it is timed all the same */
    const failures = commands.map((): Timed | undefined => undefined);
    for (let round = 0; round < COLD_START_ROUNDS; round++) {
      for (let k = 0; k < commands.length; k++) {
        const i = (k + round) % commands.length;
        add(
          measured[i]!,
          paired(round, sandbox, () => {
            const timed = run(cli(commands[i]![1]), sandbox);
            if (timed.status !== 0) failures[i] ??= timed;
            return timed;
          }),
        );
      }
    }
    for (const sample of [...fresh.node, ...rerun.node, ...measured.flatMap((m) => m.node)]) nodeRuns.push(sample);
    for (const [i, [name]] of commands.entries()) {
      const failed = failures[i];
      if (failed) console.error(`note: ${name} exited ${failed.status} in some runs (timed all the same): ${failed.stderr.trim().slice(-500)}`);
    }
    return [
      { name: `${NODE} (the anchor, median of every paired run)`, value: median(nodeRuns), unit: "ms" },
      ratioRow(`setup --tier 1 --yes, fresh HOME (${SETUP_ROUNDS} runs)`, fresh, 5),
      ratioRow("setup --tier 1 --yes, re-run that changes nothing", rerun, 3),
      ...commands.map(([name, , limit], i) => ratioRow(`${name} (${COLD_START_ROUNDS} runs)`, measured[i]!, limit)),
    ];
  } finally {
    if (installed) removeSandbox(installed);
  }
}
