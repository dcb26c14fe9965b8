// Wires the real world (terminal, environment, signals) into runSetup.

import { isatty } from "node:tty";
import { redactUrlPassword } from "../components/redis/url.ts";
import { detectSystem } from "../platform/system.ts";
import { runSetup } from "../setup/run.ts";
import type { SetupFlags } from "../wizard/flags.ts";
import { createJsonOutput, type Output } from "./output.ts";

/** Ctrl-C, `kill` and a closed terminal all cancel the same way: abort, roll back, exit 130. */
const CANCEL_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

export async function runSetupCommand(flags: SetupFlags): Promise<number> {
  // isatty, not process.stdin.isTTY: a run that never prompts does not open stdin (~3 ms)
  const isTTY = isatty(0) && isatty(1);
  const interactive = isTTY && !flags.yes && !flags.json;
  const cancel = new AbortController();
  const onSignal = () => {
    // a second Ctrl-C must not leave a half-rolled-back install behind
    if (cancel.signal.aborted) process.stderr.write("\ngateway-setup: rolling back, please wait...\n");
    cancel.abort();
  };
  // clack loads only for a person at a terminal: not with --json
  const output: Output = flags.json ? createJsonOutput() : (await import("./human-output.ts")).createHumanOutput();
  const prompter = interactive ? (await import("../wizard/clack-prompter.ts")).createClackPrompter(cancel.signal) : undefined;
  for (const signal of CANCEL_SIGNALS) process.on(signal, onSignal);
  try {
    return await runSetup({
      flags,
      env: process.env,
      cwd: process.cwd(),
      isTTY,
      output,
      ...(prompter ? { prompter } : {}),
      system: detectSystem(process.env),
      invocation: ["gateway-setup", ...process.argv.slice(2).map(redactUrlPassword)].join(" "),
      signal: cancel.signal,
    });
  } finally {
    for (const signal of CANCEL_SIGNALS) process.off(signal, onSignal);
  }
}
