// Setup, status and doctor, read by the quick parser (quick-args.ts); each command's module is a
// build of its own (scripts/build-cli.mjs), loaded when its line is read.
import { DOCTOR_OPTIONS, SETUP_OPTIONS, STATUS_OPTIONS } from "./command-options.ts";
import type { DoctorFlags } from "./doctor-command.ts";
import { type QuickCommands, runQuick } from "./quick-args.ts";

export const QUICK_COMMANDS: QuickCommands = {
  named: {
    status: { options: STATUS_OPTIONS, takesArgument: false, run: async (flags) => (await import("./status-command.ts")).runStatusCommand(flags) },
    doctor: {
      options: DOCTOR_OPTIONS,
      takesArgument: false,
      run: async (flags) => (await import("./doctor-command.ts")).runDoctorCommand(flags as DoctorFlags),
    },
  },
  program: { options: SETUP_OPTIONS, takesArgument: false, run: async (flags) => (await import("./setup-command.ts")).runSetupCommand(flags) },
};

/** `args`: the command line after the program's name. */
export function main(args: readonly string[], fullCli: () => Promise<void>): Promise<void> {
  return runQuick(args, QUICK_COMMANDS, fullCli);
}
