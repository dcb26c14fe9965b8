// The tier-1 extension's figure beside the daemon's: a Redis event -> the model request it causes,
// through the real pi (RPC mode) with the extension installed by the CLI, against the same fake
// model and redis-server, one event at a time (the next once pi's turn ended).
import { rmSync } from "node:fs";
import { Redis } from "ioredis";
import { createEvent } from "../src/runtime/protocol/event.ts";
import { pushToSession } from "../src/runtime/protocol/push.ts";
import { createSandbox, runCli } from "../test/helpers/cli.ts";
import { randomPrefix } from "../test/helpers/extension-dir.ts";
import { type FakeModel, writeFakeAgentDir } from "../test/helpers/fake-model.ts";
import { createPiSandbox, startPiRpc } from "../test/helpers/pi-rpc.ts";

/** Event -> model request, in ms, for `events` events after `warmUp`; `repliedAt` is filled by the model as it answers each token. */
export async function extensionEventToRequest(
  redisUrl: string,
  model: FakeModel,
  repliedAt: Map<string, number>,
  { events, warmUp }: { events: number; warmUp: number },
): Promise<number[]> {
  const sandbox = createPiSandbox();
  const cli = createSandbox();
  const redis = new Redis(redisUrl);
  const prefix = randomPrefix();
  try {
    const installed = await runCli(["--tier", "1", "--yes", "--json", "--redis-url", redisUrl, "--prefix", prefix], {
      env: { ...cli.env, PI_CODING_AGENT_DIR: sandbox.agentDir },
    });
    if (installed.code !== 0) throw new Error(`setup --tier 1 for the bench's pi failed: ${installed.stdout}${installed.stderr}`);
    const pi = await startPiRpc({ sandbox, model: writeFakeAgentDir(sandbox.agentDir, model) });
    try {
      const listening = (line: Record<string, unknown>) => line.method === "setStatus" && /gateway: listening on main/.test(String(line.statusText));
      await pi.waitForLine(listening, { timeoutMs: 30_000, what: "the gateway listening on main" });
      const samples: number[] = [];
      for (let i = 0; i < warmUp + events; i++) {
        const token = `TOKEN-ext-${i}`;
        const from = pi.mark();
        const started = performance.now();
        await pushToSession(redis, { prefix, sessionId: "main", event: createEvent({ type: "bench", source: "bench", payload: { token } }) });
        await pi.waitForLine((line) => line.type === "agent_end", { from, timeoutMs: 30_000, what: `the turn for ${token}` });
        const asked = repliedAt.get(token);
        if (asked === undefined) throw new Error(`the model was never asked about ${token}`);
        if (i >= warmUp) samples.push(asked - started);
      }
      return samples;
    } finally {
      await pi.stop();
    }
  } finally {
    redis.disconnect();
    sandbox.cleanup();
    for (const dir of [cli.home, cli.bin, cli.env.TMUX_TMPDIR!]) rmSync(dir, { recursive: true, force: true });
  }
}
