// push, status and doctor without commander: they are what jobs, scripts and worried users run, so
// they start with node's own argument parser. Only a command line it reads exactly as commander
// would goes this way; anything else (--help, a flag it does not know, a missing or extra argument,
// another command) is left to the full CLI, which explains it.
import { parseArgs } from "node:util";
import { type CommandOption, collect, DOCTOR_OPTIONS, optionNames, PUSH_OPTIONS, STATUS_OPTIONS } from "./command-options.ts";
import type { DoctorFlags } from "./doctor-command.ts";
import { guardedRun } from "./guard.ts";
import type { PushFlags } from "./push-command.ts";

interface QuickCommand {
  options: readonly CommandOption[];
  /** the one argument it takes (push's event type), if any */
  takesArgument: boolean;
  run(flags: Record<string, unknown>, argument: string | undefined): Promise<number>;
}

const QUICK: Record<string, QuickCommand> = {
  push: {
    options: PUSH_OPTIONS,
    takesArgument: true,
    run: async (flags, type) => (await import("./push-command.ts")).runPushCommand(type!, flags as PushFlags),
  },
  status: { options: STATUS_OPTIONS, takesArgument: false, run: async (flags) => (await import("./status-command.ts")).runStatusCommand(flags) },
  doctor: { options: DOCTOR_OPTIONS, takesArgument: false, run: async (flags) => (await import("./doctor-command.ts")).runDoctorCommand(flags as DoctorFlags) },
};

/** The command, its argument and flags, or undefined when the full CLI should read this command line. */
export function readQuickArgs(args: readonly string[]): { command: QuickCommand; argument?: string; flags: Record<string, unknown> } | undefined {
  const [name, ...rest] = args;
  const command = name === undefined ? undefined : QUICK[name];
  if (!command || rest.includes("--")) return undefined;
  const options = command.options.map((option) => ({ ...optionNames(option), list: option.list === true }));
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: Object.fromEntries(
        options.map(({ name, takesValue, list }) => [name, { type: takesValue ? ("string" as const) : ("boolean" as const), multiple: list }]),
      ),
      allowPositionals: true,
      strict: true,
    });
  } catch {
    return undefined;
  }
  const { positionals } = parsed;
  if (positionals.length !== (command.takesArgument ? 1 : 0)) return undefined;
  const flags: Record<string, unknown> = {};
  for (const { name, key, list } of options) {
    const value = parsed.values[name];
    if (value !== undefined) flags[key] = list ? (value as string[]).reduce<string[]>((all, one) => collect(one, all), []) : value;
  }
  return { command, ...(command.takesArgument ? { argument: positionals[0] } : {}), flags };
}

/** `args`: the command line after the program's name. */
export async function main(args: readonly string[], fullCli: () => Promise<void>): Promise<void> {
  const read = readQuickArgs(args);
  if (!read) return fullCli();
  await guardedRun(args, async () => {
    process.exitCode = await read.command.run(read.flags, read.argument);
  });
}
