// A real terminal for tests: one command in a private tmux server (its own socket, never the
// user's server), typed into with send-keys and read with capture-pane. The pane stays after the
// command ends (remain-on-exit), so its last screen and exit status can still be read.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
  signal: number | null;
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
    const result = spawnSync("tmux", ["-S", socket, "-f", config, ...args], { encoding: "utf8", env: { ...process.env, TMUX: "" } });
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
  // `env -i` so the command sees exactly `env`, not the tmux server's environment
  const command = ["env", "-i", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv];
  tmux(
    "new-session", "-d", "-s", "t",
    "-x", String(options.width ?? 100), "-y", String(options.height ?? 30),
    ...(options.cwd ? ["-c", options.cwd] : []),
    ...command,
  );

  let killed = false;
  let lastExit: TmuxExit | undefined;
  const exit = (): TmuxExit | undefined => {
    if (lastExit || killed) return lastExit;
    const [dead, status, signal] = tmux("display-message", "-p", "-t", "t", "#{pane_dead}|#{pane_dead_status}|#{pane_dead_signal}").trim().split("|");
    if (dead !== "1") return undefined;
    lastExit = { status: status ? Number(status) : null, signal: signal ? Number(signal) : null };
    return lastExit;
  };
  const capture = ({ history = false } = {}) => {
    if (killed) throw new Error("tmux: capture after kill()");
    const raw = tmux("capture-pane", "-p", "-J", "-t", "t", ...(history ? ["-S", "-"] : []));
    return raw
      .split("\n")
      .map((line) => line.trimEnd())
      .filter((line) => !/^Pane is dead \(/.test(line)) // tmux's remain-on-exit banner
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
    type: (text) => void tmux("send-keys", "-t", "t", "-l", "--", escapeSemicolon(text)),
    sendKeys: (...keys) => void tmux("send-keys", "-t", "t", ...keys.map(escapeSemicolon)),
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
        if (!found(result)) throw new Error(`tmux: the command ended (status ${endedWithout?.status}, signal ${endedWithout?.signal}) without showing ${String(match)}${screenDump(result)}`);
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

/** tmux reads an argument ending in ";" as a command separator (even with -l); "\\;" is a literal ";". */
function escapeSemicolon(arg: string): string {
  return arg.endsWith(";") ? `${arg.slice(0, -1)}\\;` : arg;
}
