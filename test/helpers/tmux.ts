// A real terminal for tests: one command in a private tmux server (its own socket, never the
// user's server), typed into with send-keys and read with capture-pane. The pane stays after the
// command ends (remain-on-exit), so its last screen and exit status can still be read.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TmuxOptions {
  /** environment of the command, over a minimal base (PATH, TERM, LANG); nothing else is inherited */
  env?: Record<string, string>;
  /** working directory of the command; default: the test process's */
  cwd?: string;
  /** terminal size, default 100x30 */
  width?: number;
  height?: number;
}

export interface TmuxExit {
  /** exit code, or null when the command was killed by a signal */
  status: number | null;
  /** the signal that killed it, e.g. "SIGINT" after C-c */
  signal: NodeJS.Signals | null;
}

export interface TmuxSession {
  /** the private socket path (`tmux -S <socket>`), for manual inspection */
  readonly socket: string;
  /** types `text` literally (no key-name interpretation) */
  type(text: string): void;
  /** presses tmux keys: "Enter", "Down", "Up", "Tab", "Escape", "BSpace", "C-c", "Space" ... */
  sendKeys(...keys: string[]): void;
  /** the visible screen as text, wrapped lines joined, trailing blanks trimmed; `history` adds the scrollback */
  capture(options?: { history?: boolean }): string;
  /**
   * Resolves with the pane text once it contains `match`; rejects on timeout, or as soon as the
   * command ended without showing it, with the text in the error. Searches the scrollback too
   * unless `history: false` (the visible screen only).
   */
  waitForText(match: string | RegExp, timeoutMs?: number, options?: { history?: boolean }): Promise<string>;
  /** the command's exit, or undefined while it runs */
  exit(): TmuxExit | undefined;
  /** resolves with the exit once the command has ended; rejects on timeout with the screen */
  waitForExit(timeoutMs?: number): Promise<TmuxExit>;
  /** kills the private tmux server (and so the command) and removes its files; safe to call twice */
  kill(): void;
}

const running = new Set<TmuxSession>();
process.once("exit", () => {
  for (const session of running) session.kill();
});

/** Starts `argv` (no shell involved) in a detached session of a fresh private tmux server. */
export function startTmux(argv: string[], options: TmuxOptions = {}): TmuxSession {
  if (argv.length === 0) throw new Error("startTmux: empty command");
  const dir = mkdtempSync(join(tmpdir(), "gw-tmux-"));
  const socket = join(dir, `s-${randomBytes(4).toString("hex")}`);
  const config = join(dir, "tmux.conf");
  // remain-on-exit comes from the config, so it is in force before the command can possibly end
  writeFileSync(config, ["set -g remain-on-exit on", "set -g status off", "set -g history-limit 10000", ""].join("\n"));

  const tmux = (...args: string[]) => {
    const result = spawnSync("tmux", ["-S", socket, "-f", config, ...args.map(escapeSemicolon)], { encoding: "utf8", env: { ...process.env, TMUX: "" } });
    if (result.error) throw new Error(`tmux ${args[0]}: ${result.error.message}`);
    if (result.status !== 0) throw new Error(`tmux ${args.join(" ")} failed (${result.status}): ${result.stderr.trim()}`);
    return result.stdout;
  };

  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    TERM: "xterm-256color",
    LANG: process.env.LANG || "C.UTF-8",
    ...options.env,
  };
  // tmux 3.3 often loses #{pane_dead_status}, so a wrapper records how the command ended; it also
  // gives the command exactly `env`, not the tmux server's environment
  const wrapper = join(dir, "run.cjs");
  const statusFile = join(dir, "exit.json");
  writeFileSync(wrapper, WRAPPER_SOURCE);
  tmux(
    "new-session",
    "-d",
    "-s",
    "t",
    "-x",
    String(options.width ?? 100),
    "-y",
    String(options.height ?? 30),
    ...(options.cwd ? ["-c", options.cwd] : []),
    process.execPath,
    wrapper,
    statusFile,
    JSON.stringify(env),
    ...argv,
  );

  let killed = false;
  let lastExit: TmuxExit | undefined;
  let deadSince: number | undefined;
  const paneState = () => {
    const [dead, status] = tmux("display-message", "-p", "-t", "t", "#{pane_dead}|#{pane_dead_status}").trim().split("|");
    return { dead: dead === "1", status: status ? Number(status) : null };
  };
  // the exit counts once the pane is dead too, so the screen is final by then
  const exit = (): TmuxExit | undefined => {
    if (lastExit || killed) return lastExit;
    const pane = paneState();
    if (!pane.dead) return undefined;
    if (existsSync(statusFile)) return (lastExit = JSON.parse(readFileSync(statusFile, "utf8")) as TmuxExit);
    // the wrapper itself was killed: fall back to what tmux knows (tmux 3.3 may not know the status)
    deadSince ??= Date.now();
    if (Date.now() - deadSince < 500) return undefined;
    return (lastExit = { status: pane.status, signal: null });
  };
  const capture = ({ history = false } = {}) => {
    if (killed) throw new Error("tmux: capture after kill()");
    // printing its "Pane is dead" banner, tmux scrolls a dead pane up one line: start one line higher
    const start = history ? ["-S", "-"] : paneState().dead ? ["-S", "-1"] : [];
    const raw = tmux("capture-pane", "-p", "-J", "-t", "t", ...start);
    return raw
      .split("\n")
      .map((line) => line.trimEnd())
      .filter((line) => !/^Pane is dead \(/.test(line)) // the banner
      .join("\n")
      .replace(/\n+$/, "");
  };
  const poll = async <T>(probe: () => T | undefined, timeoutMs: number, failure: (why: string) => string): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(failure(`within ${timeoutMs} ms`));
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const screenDump = (screen: string) => `\n----- screen -----\n${screen}\n------------------`;

  const session: TmuxSession = {
    socket,
    type: (text) => void tmux("send-keys", "-t", "t", "-l", "--", text),
    sendKeys: (...keys) => void tmux("send-keys", "-t", "t", ...keys),
    capture,
    async waitForText(match, timeoutMs = 10_000, { history = true } = {}) {
      const found = (screen: string) => (typeof match === "string" ? screen.includes(match) : match.test(screen));
      let screen = "";
      let endedWithout: TmuxExit | undefined;
      return poll(
        () => {
          const ended = exit(); // read before the screen: a command that printed and exited still matches
          screen = capture({ history });
          if (found(screen)) return screen;
          if (ended) endedWithout = ended;
          return ended ? screen : undefined;
        },
        timeoutMs,
        (why) => `tmux: ${String(match)} did not appear ${why}${screenDump(screen)}`,
      ).then((result) => {
        if (!found(result))
          throw new Error(
            `tmux: the command ended (status ${endedWithout?.status}, signal ${endedWithout?.signal}) without showing ${String(match)}${screenDump(result)}`,
          );
        return result;
      });
    },
    exit,
    waitForExit(timeoutMs = 10_000) {
      return poll(exit, timeoutMs, (why) => `tmux: the command did not exit ${why}${screenDump(killed ? "(killed)" : capture({ history: true }))}`);
    },
    kill() {
      if (killed) return;
      killed = true;
      running.delete(session);
      spawnSync("tmux", ["-S", socket, "kill-server"], { stdio: "ignore" });
      rmSync(dir, { recursive: true, force: true });
    },
  };
  running.add(session);
  return session;
}

// Runs `command ...args` with exactly the env given as JSON, then writes {status, signal} to the
// status file. It shares the terminal's process group, so it ignores the keyboard's SIGINT/SIGQUIT
// (a handler, not SIG_IGN, so the command still gets the default action).
const WRAPPER_SOURCE = `const { spawn } = require("node:child_process");
const { renameSync, writeFileSync } = require("node:fs");
const [statusFile, envJson, command, ...args] = process.argv.slice(2);
for (const signal of ["SIGINT", "SIGQUIT"]) process.on(signal, () => {});
const record = (status, signal) => {
  writeFileSync(statusFile + ".tmp", JSON.stringify({ status, signal }));
  renameSync(statusFile + ".tmp", statusFile);
};
const child = spawn(command, args, { stdio: "inherit", env: JSON.parse(envJson) });
child.on("error", (error) => {
  process.stderr.write("cannot start " + command + ": " + error.message + "\\n");
  record(127, null);
  process.exit(127);
});
child.on("exit", (status, signal) => {
  record(status, signal);
  process.exit(status ?? 1);
});
`;

/** tmux reads an argument ending in ";" as a command separator (even in send-keys -l); "\\;" is a literal ";". */
function escapeSemicolon(arg: string): string {
  return arg.endsWith(";") ? `${arg.slice(0, -1)}\\;` : arg;
}
