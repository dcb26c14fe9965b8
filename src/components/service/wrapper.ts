// The wrapper script both service managers run: pi in a tmux session, started only if that
// session is not there yet, and the script exits when the session ends so it gets restarted.
import { join } from "node:path";
import { shellQuote } from "../../platform/shell.ts";
import { ownVersion } from "../../platform/package-root.ts";
import { renderTemplate } from "../../platform/templates.ts";

export interface WrapperInput {
  tmux: string;
  /** tmux session name */
  session: string;
  workdir: string;
  /** argv of the pi process to keep alive */
  piArgv: string[];
  pollSeconds?: number;
}

export const DEFAULT_TMUX_SESSION = "pi-gateway";

export function renderWrapper(input: WrapperInput): string {
  if (!/^[A-Za-z0-9._-]+$/.test(input.session)) throw new Error(`invalid tmux session name ${JSON.stringify(input.session)}`);
  return renderTemplate("service/run-central.sh.hbs", {
    version: ownVersion(),
    tmux: input.tmux,
    session: input.session,
    workdir: input.workdir,
    piCommand: input.piArgv.map(shellQuote).join(" "),
    pollSeconds: input.pollSeconds ?? 5,
  });
}

export function wrapperPath(stateDir: string): string {
  return join(stateDir, "run-central.sh");
}
