// Proves test/helpers/tmux.ts with a real terminal: a small interactive node script is typed into,
// its screen read back, its exit status and signal seen, and the private tmux server cleaned up.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { startTmux, type TmuxSession } from "./helpers/tmux.ts";

const dir = mkdtempSync(join(tmpdir(), "gw-tmux-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sessions: TmuxSession[] = [];
afterEach(() => {
  for (const session of sessions.splice(0)) session.kill();
});

// asks for a line, says it back, exits with $EXIT_CODE
const ECHO_SCRIPT = join(dir, "echo.mjs");
writeFileSync(
  ECHO_SCRIPT,
  `console.log(
  "size " + process.stdout.columns + "x" + process.stdout.rows + " tty=" + process.stdin.isTTY +
    " leak=" + (process.env.GW_TMUX_LEAK ?? "none") + " cwd=" + process.cwd(),
);
process.stdout.write((process.env.QUESTION ?? "?") + " ");
let buffer = "";
process.stdin.setEncoding("utf8").on("data", (chunk) => {
  buffer += chunk;
  if (!buffer.includes("\\n")) return;
  console.log("you said: " + buffer.split("\\n")[0]);
  process.exit(Number(process.env.EXIT_CODE ?? 0));
});
`,
);
// raw mode: prints what each key sent, until "q"
const KEYS_SCRIPT = join(dir, "keys.mjs");
writeFileSync(
  KEYS_SCRIPT,
  `process.stdin.setRawMode(true);
console.log("ready for keys");
process.stdin.on("data", (data) => {
  console.log("key " + JSON.stringify(data.toString("latin1")));
  if (data.toString() === "q") process.exit(0);
});
`,
);

function start(argv: string[], options: Parameters<typeof startTmux>[1] = {}): TmuxSession {
  const session = startTmux(argv, options);
  sessions.push(session);
  return session;
}

describe("tmux terminal helper", () => {
  it("types into an interactive program, reads its screen and sees its exit status; only the given env reaches it", async () => {
    process.env.GW_TMUX_LEAK = "leaked";
    const term = start([process.execPath, ECHO_SCRIPT], { env: { QUESTION: "What is your name?", EXIT_CODE: "7" }, cwd: dir, width: 90, height: 20 });
    delete process.env.GW_TMUX_LEAK;
    const screen = await term.waitForText("What is your name?");
    expect(screen).toContain(`size 90x20 tty=true leak=none cwd=${dir}`);
    expect(term.exit()).toBeUndefined();

    term.type("Ada 'Lovelace' é✓ $HOME;");
    await term.waitForText("Ada 'Lovelace' é✓ $HOME;"); // typed literally, echoed by the tty
    term.sendKeys("Enter");
    expect(await term.waitForExit()).toEqual({ status: 7, signal: null });
    // the pane stays readable after the exit, without tmux's "Pane is dead" banner
    const after = term.capture({ history: true });
    expect(after).toContain("you said: Ada 'Lovelace' é✓ $HOME;");
    expect(after).not.toMatch(/Pane is dead/);
  });

  it("sends named keys (arrows, Enter, C-c) and reports death by signal", async () => {
    const keys = start([process.execPath, KEYS_SCRIPT]);
    await keys.waitForText("ready for keys");
    keys.sendKeys("Down");
    await keys.waitForText(/key "\\u001b(\[|O)B"/); // \e[B, or \eOB in application cursor mode
    keys.sendKeys("Enter");
    await keys.waitForText('key "\\r"');
    keys.type(";");
    await keys.waitForText('key ";"');
    keys.sendKeys("q");
    expect(await keys.waitForExit()).toEqual({ status: 0, signal: null });

    const sleeper = start(["sh", "-c", "echo sleeping; sleep 30"]);
    await sleeper.waitForText("sleeping");
    sleeper.sendKeys("C-c");
    expect(await sleeper.waitForExit()).toEqual({ status: null, signal: "SIGINT" });
  });

  it("passes arguments verbatim (no shell, no tmux parsing) and reports a command that cannot start", async () => {
    const args = start(["sh", "-c", 'printf "[%s]\\n" "$@"; exit 0;', "sh", "$HOME ~", "{x}", "a;", ";"]);
    expect(await args.waitForExit()).toEqual({ status: 0, signal: null });
    expect(args.capture()).toBe("[$HOME ~]\n[{x}]\n[a;]\n[;]");

    const missing = start(["no-such-command-gw"]);
    expect(await missing.waitForExit()).toEqual({ status: 127, signal: null });
    expect(missing.capture({ history: true })).toMatch(/cannot start no-such-command-gw: spawn no-such-command-gw ENOENT/);
  });

  it("fails with the screen in the message on timeout, and at once when the program ended without the text", async () => {
    const term = start(["sh", "-c", "echo 'hello there'; sleep 30"]);
    await term.waitForText("hello there", 10_000); // on a busy machine the shell may take longer than the timeout below to start
    const timeout = await term.waitForText(/never shown/, 300).catch((e: Error) => e);
    expect((timeout as Error).message).toMatch(/\/never shown\/ did not appear within 300 ms[\s\S]*----- screen -----\nhello there/);

    const quick = start(["sh", "-c", "echo bye; exit 3"]);
    const started = Date.now();
    const ended = await quick.waitForText("never shown", 10_000).catch((e: Error) => e);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((ended as Error).message).toMatch(/the command ended \(status 3, signal null\) without showing never shown[\s\S]*bye/);
    expect(quick.exit()).toEqual({ status: 3, signal: null });
  });

  it("runs on a private server that kill() removes; the default tmux server is never used", async () => {
    const term = start(["sh", "-c", "echo private; sleep 30"]);
    await term.waitForText("private");
    expect(term.socket.startsWith(tmpdir())).toBe(true);
    expect(spawnSync("tmux", ["-S", term.socket, "has-session"]).status).toBe(0);
    term.kill();
    term.kill(); // idempotent
    expect(spawnSync("tmux", ["-S", term.socket, "has-session"]).status).not.toBe(0);
    expect(existsSync(term.socket)).toBe(false);
    expect(() => term.capture()).toThrow(/after kill/);
  });
});
