// `gateway-setup push <type> [options]` without commander: push is what scripts and jobs run, often,
// so it starts with node's own argument parser. Only a command line it reads exactly as commander
// would goes this way; anything else (--help, a flag it does not know, a missing or extra argument)
// is left to the full CLI, which explains it.
import { parseArgs } from "node:util";
import { guardedRun } from "./guard.ts";
import type { PushFlags } from "./push-command.ts";
import { PUSH_OPTIONS, pushOptionNames } from "./push-options.ts";

const OPTIONS = PUSH_OPTIONS.map(pushOptionNames);

/** The event type and flags, or undefined when the full CLI should read this command line. */
export function readPushArgs(args: readonly string[]): { type: string; flags: PushFlags } | undefined {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...args],
      options: Object.fromEntries(OPTIONS.map(({ name, takesValue }) => [name, { type: takesValue ? ("string" as const) : ("boolean" as const) }])),
      allowPositionals: true,
      strict: true,
    });
  } catch {
    return undefined;
  }
  const [type, ...more] = parsed.positionals;
  if (type === undefined || more.length > 0 || args.includes("--")) return undefined;
  const flags: Record<string, unknown> = {};
  for (const { name, key } of OPTIONS) if (parsed.values[name] !== undefined) flags[key] = parsed.values[name];
  return { type, flags: flags as PushFlags };
}

/** `args`: what follows `push` on the command line. */
export async function main(args: readonly string[], fullCli: () => Promise<void>): Promise<void> {
  const read = readPushArgs(args);
  if (!read) return fullCli();
  await guardedRun(args, async () => {
    const { runPushCommand } = await import("./push-command.ts");
    process.exitCode = await runPushCommand(read.type, read.flags);
  });
}
