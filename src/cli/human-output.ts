// Human mode's output: clack on the terminal, and a spinner of our own. Its own module so that
// JSON mode, push, doctor and status never load clack.
import { styleText } from "node:util";
import * as clack from "@clack/prompts";
import type { Output, Spinner } from "./output.ts";
import { wrapText } from "./wrap.ts";

/** clack wraps a pipe or file at 80 columns too: wrapping first keeps continuation lines indented */
const columns = () => (process.stdout.isTTY && process.stdout.columns) || 80;
/** clack puts "│  " before a log line and "│  " + "  │" around a note's lines */
const forLog = (text: string) => wrapText(text, columns() - 3);
const forNote = (text: string) => wrapText(text, columns() - 6);

export function createHumanOutput(): Output {
  return {
    json: false,
    intro: (title) => clack.intro(title),
    outro: (message) => clack.outro(message),
    info: (m) => clack.log.info(forLog(m)),
    success: (m) => clack.log.success(forLog(m)),
    warn: (m) => clack.log.warn(forLog(m)),
    error: (m) => clack.log.error(forLog(m)),
    note: (m, title) => clack.note(forNote(m), title),
    spinner: (message) => {
      if (!process.stdout.isTTY) {
        clack.log.step(forLog(message));
        return { stop: (m) => clack.log.success(forLog(m)), clear: () => {} };
      }
      return startSpinner(message);
    },
    document: () => {},
  };
}

const FRAMES = ["◒", "◐", "◓", "◑"];
const HIDE_CURSOR = "\x1b[?25l";
const SHOW_CURSOR = "\x1b[?25h";
const CLEAR_LINE = "\r\x1b[2K";

/**
 * A spinner that only writes. clack's spinner puts stdin in raw mode and calls process.exit(0)
 * on Ctrl-C, which would skip our cancel and rollback; this one leaves Ctrl-C to send SIGINT.
 */
function startSpinner(message: string): Spinner {
  const out = process.stdout;
  const showCursor = () => out.write(SHOW_CURSOR);
  let frame = 0;
  const draw = () => {
    const text = `${message}${".".repeat(Math.floor(frame / 4) % 4)}`.slice(0, columns() - 4);
    out.write(`${CLEAR_LINE}${styleText("magenta", FRAMES[frame++ % FRAMES.length]!)}  ${text}`);
  };
  out.write(`${styleText("gray", clack.S_BAR)}\n${HIDE_CURSOR}`);
  process.once("exit", showCursor);
  draw();
  const timer = setInterval(draw, 100);
  let running = true;
  const end = (symbol?: string, final?: string) => {
    if (!running) return;
    running = false;
    clearInterval(timer);
    process.off("exit", showCursor);
    out.write(CLEAR_LINE + SHOW_CURSOR);
    if (symbol && final !== undefined) {
      const [first, ...rest] = forLog(final).split("\n");
      out.write([`${symbol}  ${first}`, ...rest.map((line) => `${styleText("gray", clack.S_BAR)}  ${line}`)].join("\n") + "\n");
    }
  };
  return {
    stop: (m) => end(styleText("green", clack.S_STEP_SUBMIT), m),
    clear: () => end(),
  };
}
