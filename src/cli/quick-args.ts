// Setup, push, status and doctor without commander (~15 ms of a cold start): they are what users,
// jobs, scripts and worried users run, so they start with a small parser of their own. Only a
// command line it reads exactly as commander would goes this way; anything else (--help, a flag it
// does not know, a value outside an option's choices, a missing or extra argument, another command)
// is left to the full CLI, which explains it. The entries that use it: push-entry.ts (push) and
// quick-entry.ts (setup, status, doctor); the bin (front-door.ts) picks one by the command's name.
import { type CommandOption, collect, optionNames } from "./command-options.ts";
import { guardedRun } from "./guard.ts";

export interface QuickCommand {
  options: readonly CommandOption[];
  /** the one argument it takes (push's event type), if any */
  takesArgument: boolean;
  run(flags: Record<string, unknown>, argument: string | undefined): Promise<number>;
}

/** The command lines one entry reads. */
export interface QuickCommands {
  /** `gateway-setup <name> ...` */
  named: Record<string, QuickCommand>;
  /** the program's own line, whose options come before any word (a word names a command): setup */
  program?: QuickCommand;
}

/** The command, its argument and flags, or undefined when the full CLI should read this command line. */
export function readQuickArgs(
  args: readonly string[],
  commands: QuickCommands,
): { command: QuickCommand; argument?: string; flags: Record<string, unknown> } | undefined {
  const [name, ...rest] = args;
  const named = name === undefined ? undefined : Object.hasOwn(commands.named, name) ? commands.named[name] : undefined;
  const command = named ?? (name === undefined || name.startsWith("-") ? commands.program : undefined);
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

/** Runs the command line `args` (after the program's name) as read here, or hands it to the full CLI. */
export async function runQuick(args: readonly string[], commands: QuickCommands, fullCli: () => Promise<void>): Promise<void> {
  const read = readQuickArgs(args, commands);
  if (!read) return fullCli();
  await guardedRun(args, async () => {
    process.exitCode = await read.command.run(read.flags, read.argument);
  });
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
