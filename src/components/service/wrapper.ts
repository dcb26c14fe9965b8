// The wrapper script both service managers run: pi in a tmux session on gateway-setup's own tmux
// server, started only if that session is not there yet, and the script exits when pi ends so it
// gets restarted.
import { join } from "node:path";
import { ownVersion } from "../../platform/package-root.ts";
import { shellQuote } from "../../platform/shell.ts";
import { renderTemplate } from "../../platform/templates.ts";

export interface WrapperInput {
  tmux: string;
  /** tmux session name */
  session: string;
  /** the tmux server's socket name (`tmux -L`); default TMUX_SOCKET */
  socket?: string;
  workdir: string;
  /** argv of the pi process to keep alive */
  piArgv: string[];
  /** the variables pi gets, whatever the tmux server's own environment is (PATH, HOME, GATEWAY_ROLE...) */
  environment: Record<string, string>;
  /** where the wrapper appends a crashed pi's last output */
  log: string;
  pollSeconds?: number;
}

/** the default agent dir's tmux session; another agent dir's has its tag appended (see plan/settings.ts) */
export const DEFAULT_TMUX_SESSION = "pi-gateway";
/** the central session's own tmux server (`tmux -L pi-gateway`): never the user's default server; another agent dir's is named like its session */
export const TMUX_SOCKET = "pi-gateway";

const NAME = /^[A-Za-z0-9._-]+$/;

export function renderWrapper(input: WrapperInput): string {
  if (!NAME.test(input.session)) throw new Error(`invalid tmux session name ${JSON.stringify(input.session)}`);
  const socket = input.socket ?? TMUX_SOCKET;
  if (!NAME.test(socket)) throw new Error(`invalid tmux socket name ${JSON.stringify(socket)}`);
  return renderTemplate("service/run-central.sh.hbs", {
    version: ownVersion(),
    tmux: input.tmux,
    socket,
    session: input.session,
    workdir: input.workdir,
    log: input.log,
    environment: Object.entries(input.environment).map(([key, value]) => `${key}=${value}`),
    piCommand: input.piArgv.map(shellQuote).join(" "),
    pollSeconds: input.pollSeconds ?? 5,
  });
}

export function wrapperPath(stateDir: string): string {
  return join(stateDir, "run-central.sh");
}

/** a crashed central pi's last output and exit status, appended by the wrapper */
export function centralLogPath(stateDir: string): string {
  return join(stateDir, "central-session.log");
}

/** Which tmux server holds the central session: installs before the dedicated socket used the default one. */
export interface CentralTmux {
  tmuxSession: string;
  tmuxSocket?: string;
}

/** The tmux server and session a wrapper (of any version) keeps pi in: older ones used the default server; `session` where it names none. */
export function wrapperTmux(wrapper: string, session: string): CentralTmux {
  const socket = / -L '?([A-Za-z0-9._-]+)'? /.exec(wrapper)?.[1];
  return { tmuxSession: /^SESSION='?([A-Za-z0-9._-]+)'?$/m.exec(wrapper)?.[1] ?? session, ...(socket ? { tmuxSocket: socket } : {}) };
}

/** argv of a tmux command against the central session's server, e.g. `kill-session -t =pi-gateway` */
export function centralTmuxArgv(service: CentralTmux, ...args: string[]): string[] {
  return ["tmux", ...(service.tmuxSocket ? ["-L", service.tmuxSocket] : []), ...args];
}

/** what a user types to look at the central pi */
export function attachCommand(service: CentralTmux): string {
  return centralTmuxArgv(service, "attach", "-t", service.tmuxSession).map(shellQuote).join(" ");
}
