// One setup run: what it was started with (flags, environment, terminal, this machine), and the
// report it builds as its steps run (printed as JSON with --json).

import type { Output } from "../cli/output.ts";
import type { Plan } from "../core/plan.ts";
import type { SystemInfo } from "../core/system.ts";
import type { VerificationCheck } from "../install/verify.ts";
import type { Env } from "../platform/exec.ts";
import type { SetupFlags } from "../wizard/flags.ts";
import type { Prompter } from "../wizard/prompter.ts";

export interface SetupContext {
  flags: SetupFlags;
  env: Env;
  cwd: string;
  /** stdin and stdout are a terminal */
  isTTY: boolean;
  output: Output;
  /** present only when questions may be asked */
  prompter?: Prompter;
  system: SystemInfo;
  invocation: string;
  /** aborted on Ctrl-C, SIGTERM or SIGHUP */
  signal?: AbortSignal;
}

export interface SetupReport {
  ok: boolean;
  dryRun: boolean;
  plan?: Plan;
  applied?: { description: string; target: string; outcome: string }[];
  changed?: boolean;
  verification?: VerificationCheck[];
  error?: { message: string; fix?: string };
}

export const NON_INTERACTIVE_HINT =
  "gateway-setup needs answers but this is not an interactive terminal. Re-run with --yes to accept the defaults, " +
  "e.g. `gateway-setup --tier 1 --yes [--redis-url redis://127.0.0.1:6379] [--scope global|project] [--prefix agent]`, " +
  "or --dry-run to only print the plan.";

export const JSON_NEEDS_YES = "--json needs --yes (or --dry-run): a JSON run cannot ask questions";
