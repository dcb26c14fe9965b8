// A real terminal for tests: a program inside a private tmux server (never the user's), driven
// with send-keys and read with capture-pane.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { shellQuote } from "../../src/platform/shell.ts";

export interface Terminal {
  type(text: string): void;
  /** tmux key names: Enter, Down, Up, BSpace, C-c ... */
  press(...keys: string[]): void;
  screen(): string;
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<string>;
  /** the program's exit status, once it has ended */
  waitForExit(timeoutMs?: number): Promise<number>;
  kill(): void;
}

export function startTerminal(argv: string[], options: { env: Record<string, string>; cwd: string; width?: number; height?: number }): Terminal {
  const socket = `gw-test-${randomBytes(4).toString("hex")}`;
  const tmux = (...args: string[]) => {
    const result = spawnSync("tmux", ["-L", socket, ...args], { encoding: "utf8" });
    if (result.status !== 0) throw new Error(`tmux ${args[0]} failed: ${result.stderr}`);
    return result.stdout;
  };
  const env = Object.entries(options.env).map(([k, v]) => `${k}=${shellQuote(v)}`).join(" ");
  // the marker line tells the test the exit status; the pause keeps the pane readable afterwards
  const command = `cd ${shellQuote(options.cwd)} && env -i ${env} TERM=xterm-256color ${argv.map(shellQuote).join(" ")}; echo "__EXIT:$?"; sleep 60`;
  tmux("new-session", "-d", "-x", String(options.width ?? 110), "-y", String(options.height ?? 45), "sh", "-c", command);

  const screen = () => tmux("capture-pane", "-p", "-J", "-S", "-300");
  const waitFor = async (text: string | RegExp, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const shown = screen();
      if (typeof text === "string" ? shown.includes(text) : text.test(shown)) return shown;
      if (Date.now() > deadline) throw new Error(`terminal: ${String(text)} did not appear within ${timeoutMs} ms; the screen shows:\n${shown}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return {
    type: (text) => void tmux("send-keys", "-l", text),
    press: (...keys) => void tmux("send-keys", ...keys),
    screen,
    waitFor,
    async waitForExit(timeoutMs = 60_000) {
      const shown = await waitFor(/__EXIT:\d+/, timeoutMs);
      return Number(/__EXIT:(\d+)/.exec(shown)![1]);
    },
    kill: () => void spawnSync("tmux", ["-L", socket, "kill-server"]),
  };
}
