// What setup asks the machine: the cron daemon is asked of pgrep only when a plan reads it (a
// tier-1 setup has no crontab lines and spawns nothing for it), and once.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { detectSystem } from "../src/platform/system.ts";
import { createSandbox, type Sandbox } from "./helpers/cli.ts";

const sandboxes: Sandbox[] = [];
afterEach(() => {
  for (const sandbox of sandboxes.splice(0))
    for (const dir of [sandbox.home, sandbox.bin, sandbox.env.TMUX_TMPDIR!]) rmSync(dir, { recursive: true, force: true });
});

function machineWithCron(running: boolean): { env: Record<string, string>; pgrepCalls: () => string[] } {
  const sandbox = createSandbox();
  sandboxes.push(sandbox);
  const calls = join(sandbox.bin, "pgrep-calls");
  sandbox.standIn("crontab", "#!/bin/sh\nexit 0\n");
  sandbox.standIn("pgrep", `#!/bin/sh\necho "$*" >> ${JSON.stringify(calls)}\n${running ? '[ "$*" = "-x cron" ]' : "exit 1"}\n`);
  return { env: sandbox.env, pgrepCalls: () => (existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n") : []) };
}

describe("detectSystem", () => {
  it("asks pgrep about the cron daemon only when the answer is read, and only once", () => {
    const { env, pgrepCalls } = machineWithCron(true);
    const system = detectSystem(env);
    expect(system.binaries.crontab).toBeDefined();
    expect(pgrepCalls()).toEqual([]);
    expect(system.cronRunning).toBe(true);
    expect(system.cronRunning).toBe(true);
    expect(pgrepCalls()).toEqual(["-x cron", "-x crond"]);
  });

  it("reads a cron daemon that does not run as false, and shows the answer to JSON like any field", () => {
    const { env, pgrepCalls } = machineWithCron(false);
    const system = detectSystem(env);
    expect(JSON.parse(JSON.stringify(system)).cronRunning).toBe(false);
    expect(system.cronRunning).toBe(false);
    expect(pgrepCalls()).toEqual(["-x cron", "-x crond"]);
  });
});
