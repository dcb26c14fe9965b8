// Setup, push, status and doctor without commander (~15 ms of a cold start): they are what users,
// jobs, scripts and worried users run, so they start with a small parser of their own. Only a
// command line it reads exactly as commander would goes this way; anything else (--help, a flag it
// does not know, a value outside an option's choices, a missing or extra argument, another command)
// is left to the full CLI, which explains it.
import { type CommandOption, collect, DOCTOR_OPTIONS, optionNames, PUSH_OPTIONS, SETUP_OPTIONS, STATUS_OPTIONS } from "./command-options.ts";
import { cacheCompiledChunks } from "./compile-cache.ts";
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

/** The program itself: its options come before any word (a word names a command). */
const SETUP: QuickCommand = {
  options: SETUP_OPTIONS,
  takesArgument: false,
  run: async (flags) => (await import("./setup-command.ts")).runSetupCommand(flags),
};

/** The command, its argument and flags, or undefined when the full CLI should read this command line. */
export function readQuickArgs(args: readonly string[]): { command: QuickCommand; argument?: string; flags: Record<string, unknown> } | undefined {
  const [name, ...rest] = args;
  const named = name === undefined ? undefined : QUICK[name];
  const command = named ?? (name === undefined || name.startsWith("-") ? SETUP : undefined);
  const commandArgs = named ? rest : args;
  if (!command || commandArgs.includes("--")) return undefined;
  // a command line without flags (`push job.done`) needs no option's names
  const flagged = commandArgs.some((arg) => arg.length > 1 && arg.startsWith("-"));
  const options = flagged ? command.options.map((option) => ({ ...optionNames(option), list: option.list === true, choices: option.choices })) : [];
  const parsed = parseStrictly(commandArgs, options);
  if (!parsed) return undefined;
  const { positionals } = parsed;
  if (positionals.length !== (command.takesArgument ? 1 : 0)) return undefined;
  const flags: Record<string, unknown> = {};
  for (const { name, key, list, choices, negated } of options) {
    const value = parsed.values[name];
    if (value === undefined) continue;
    // commander refuses it, and says which values it takes
    if (choices && !choices.includes(value as string)) return undefined;
    // `--install-redis --no-install-redis`: the last one counts, an order the values read do not keep
    if (key in flags) return undefined;
    flags[key] = negated ? false : list ? (value as string[]).reduce<string[]>((all, one) => collect(one, all), []) : value;
  }
  return { command, ...(command.takesArgument ? { argument: positionals[0] } : {}), flags };
}

interface ParsedOption {
  name: string;
  short?: string;
  takesValue: boolean;
  list: boolean;
}

/**
 * The command line as node's `parseArgs` reads it with `strict` and `allowPositionals` (values by
 * option name, a list for a `list` option, the last value for any other), for the forms a command
 * line of these commands takes: `--name value`, `--name=value`, `--switch`, `-y`, positionals and
 * `-`. Anything else, and anything parseArgs refuses (an unknown option, a value missing or
 * starting with `-`, `--switch=value`, grouped short options), is undefined: commander reads it.
 * Hand-written because parseArgs costs a push ~1 ms to load and run the first time.
 */
type OptionValues = Record<string, string | string[] | true>;

function parseStrictly(args: readonly string[], options: readonly ParsedOption[]): { values: OptionValues; positionals: string[] } | undefined {
  const values: OptionValues = {};
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "-" || !arg.startsWith("-")) {
      positionals.push(arg);
      continue;
    }
    const long = arg.startsWith("--");
    const equals = long ? arg.indexOf("=") : -1;
    const name = long ? arg.slice(2, equals < 0 ? undefined : equals) : arg.slice(1);
    const option = long ? options.find((o) => o.name === name) : name.length === 1 ? options.find((o) => o.short === name) : undefined;
    if (!option) return undefined;
    if (!option.takesValue) {
      if (equals >= 0) return undefined;
      values[option.name] = true;
      continue;
    }
    let value: string | undefined;
    if (equals >= 0) value = arg.slice(equals + 1);
    else {
      value = args[++i];
      if (value === undefined || (value.length > 1 && value.startsWith("-"))) return undefined;
    }
    const previous = values[option.name];
    values[option.name] = option.list ? [...(Array.isArray(previous) ? previous : []), value] : value;
  }
  return { values, positionals };
}

/** `args`: the command line after the program's name. */
export async function main(args: readonly string[], fullCli: () => Promise<void>): Promise<void> {
  // node 22's switch for its own compile cache turns this one off too. The chunks' folder is this
  // chunk's (__dirname in the build; import.meta.url would cost the start its URL code)
  if (!process.env.NODE_DISABLE_COMPILE_CACHE) cacheCompiledChunks(import.meta.dirname);
  const read = readQuickArgs(args);
  if (!read) return fullCli();
  await guardedRun(args, async () => {
    process.exitCode = await read.command.run(read.flags, read.argument);
  });
}
