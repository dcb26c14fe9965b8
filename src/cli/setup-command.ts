// Wires the real world (terminal, environment, signals) into runSetup.
import { createClackPrompter } from "../wizard/clack-prompter.ts";
import type { SetupFlags } from "../wizard/flags.ts";
import { detectSystem } from "../platform/system.ts";
import { redactUrlPassword } from "../components/redis/url.ts";
import { createHumanOutput, createJsonOutput } from "./output.ts";
import { EXIT_CANCELLED } from "./exit-codes.ts";
import { runSetup } from "./setup.ts";

export async function runSetupCommand(flags: SetupFlags): Promise<number> {
  const isTTY = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  const interactive = isTTY && !flags.yes && !flags.json;
  const cancel = new AbortController();
  const onSigint = () => {
    if (cancel.signal.aborted) process.exit(EXIT_CANCELLED);
    cancel.abort();
  };
  process.on("SIGINT", onSigint);
  try {
    return await runSetup({
      flags,
      env: process.env,
      cwd: process.cwd(),
      isTTY,
      output: flags.json ? createJsonOutput() : createHumanOutput(),
      ...(interactive ? { prompter: createClackPrompter() } : {}),
      system: detectSystem(process.env),
      invocation: ["gateway-setup", ...process.argv.slice(2).map(redactUrlPassword)].join(" "),
      signal: cancel.signal,
    });
  } finally {
    process.off("SIGINT", onSigint);
  }
}

