// `gateway-setup push`, read by the quick parser (quick-args.ts) and built with the push itself
// into one chunk: the command jobs and hooks run most, one file of ours after the bin.
import { PUSH_OPTIONS } from "./command-options.ts";
import { type PushFlags, runPushCommand } from "./push-command.ts";
import { type QuickCommands, runQuick } from "./quick-args.ts";

export const PUSH_COMMANDS: QuickCommands = {
  named: { push: { options: PUSH_OPTIONS, takesArgument: true, run: (flags, type) => runPushCommand(type!, flags as PushFlags) } },
};

/** `args`: the command line after the program's name. */
export function main(args: readonly string[], fullCli: () => Promise<void>): Promise<void> {
  return runQuick(args, PUSH_COMMANDS, fullCli);
}
