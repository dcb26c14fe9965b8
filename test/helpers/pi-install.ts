// The gateway installed into a real pi's sandbox the way a user does it: `gateway-setup --tier 1
// --yes` with PI_CODING_AGENT_DIR pointing at the sandbox's agent dir, then pi pointed at a fake model.
import { expect } from "vitest";
import { createSandbox, runCli } from "./cli.ts";
import { type FakeModel, writeFakeAgentDir } from "./fake-model.ts";
import type { PiSandbox } from "./pi-rpc.ts";

/** Installs tier 1 for the pi in `sandbox` (the CLI runs in a HOME of its own); returns pi's --model value. */
export async function installTier1ForPi(sandbox: PiSandbox, options: { redisUrl: string; prefix: string; model: Pick<FakeModel, "baseUrl"> }): Promise<string> {
  const cli = createSandbox();
  const env = { ...cli.env, PI_CODING_AGENT_DIR: sandbox.agentDir };
  const result = await runCli(["--tier", "1", "--yes", "--json", "--redis-url", options.redisUrl, "--prefix", options.prefix], { env });
  expect(result.code, result.stdout + result.stderr).toBe(0);
  return writeFakeAgentDir(sandbox.agentDir, options.model);
}
