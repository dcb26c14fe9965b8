// Human mode's output: clack's look (its log lines, notes, intro and outro, drawn here as
// @clack/prompts 1.x draws them, with the same width and wrapping packages it uses) and a spinner
// of our own. Drawing them here keeps @clack/prompts (a 113 KB chunk with node:readline and
// node:tty, ~20 ms of a cold start) to the interactive wizard. Its own module so that JSON mode,
// push, doctor and status load none of it.
import { styleText } from "node:util";
import stringWidth from "fast-string-width";
import { wrapAnsi } from "fast-wrap-ansi";
import type { Output, Spinner } from "./output.ts";
import { wrapText } from "./wrap.ts";

/** clack's isUnicodeSupported: its symbols, or their ASCII stand-ins */
const unicode =
  process.platform !== "win32"
    ? process.env.TERM !== "linux"
    : Boolean(process.env.CI) ||
      Boolean(process.env.WT_SESSION) ||
      Boolean(process.env.TERMINUS_SUBLIME) ||
      process.env.ConEmuTask === "{cmd::Cmder}" ||
      process.env.TERM_PROGRAM === "Terminus-Sublime" ||
      process.env.TERM_PROGRAM === "vscode" ||
      process.env.TERM === "xterm-256color" ||
      process.env.TERM === "alacritty" ||
      process.env.TERMINAL_EMULATOR === "JetBrains-JediTerm";
const symbol = (fancy: string, plain: string) => (unicode ? fancy : plain);
const S_BAR = symbol("│", "|");
const S_BAR_START = symbol("┌", "T");
const S_BAR_END = symbol("└", "—");
const S_BAR_H = symbol("─", "-");
const S_CORNER_TOP_RIGHT = symbol("╮", "+");
const S_CONNECT_LEFT = symbol("├", "+");
const S_CORNER_BOTTOM_RIGHT = symbol("╯", "+");
const S_STEP_SUBMIT = symbol("◇", "o");
const S_INFO = symbol("●", "•");
const S_SUCCESS = symbol("◆", "*");
const S_WARN = symbol("▲", "!");
const S_ERROR = symbol("■", "x");

/** clack wraps a pipe or file at 80 columns too: wrapping first keeps continuation lines indented */
const columns = () => (process.stdout.isTTY && process.stdout.columns) || 80;
/** clack puts "│  " before a log line and "│  " + "  │" around a note's lines */
const forLog = (text: string) => wrapText(text, columns() - 3);
const forNote = (text: string) => wrapText(text, columns() - 6);
const write = (text: string) => void process.stdout.write(text);
const bar = () => styleText("gray", S_BAR);

/** clack's log.message: the symbol before the first line, the bar before the others, a bar line before */
function logLines(text: string, mark: string): void {
  const [first = "", ...rest] = text.split("\n");
  const lines = [bar(), first.length > 0 ? `${mark}  ${first}` : mark, ...rest.map((line) => (line.length > 0 ? `${bar()}  ${line}` : bar()))];
  write(`${lines.join("\n")}\n`);
}

/** clack's note: a box under a title, its lines wrapped (hard, untrimmed) to the terminal's width */
function note(text: string, title = ""): void {
  const stdoutColumns = typeof process.stdout.columns === "number" ? process.stdout.columns : 80;
  const lines = ["", ...wrapAnsi(text, stdoutColumns - 6, { hard: true, trim: false }).split("\n"), ""];
  const titleWidth = stringWidth(title);
  const width =
    Math.max(
      lines.reduce((widest, line) => Math.max(stringWidth(line), widest), 0),
      titleWidth,
    ) + 2;
  const body = lines.map((line) => `${bar()}  ${line}${" ".repeat(width - stringWidth(line))}${bar()}`).join("\n");
  const top = styleText("gray", S_BAR_H.repeat(Math.max(width - titleWidth - 1, 1)) + S_CORNER_TOP_RIGHT);
  const bottom = styleText("gray", S_CONNECT_LEFT + S_BAR_H.repeat(width + 2) + S_CORNER_BOTTOM_RIGHT);
  write(`${bar()}\n${styleText("green", S_STEP_SUBMIT)}  ${styleText("reset", title)} ${top}\n${body}\n${bottom}\n`);
}

export function createHumanOutput(): Output {
  return {
    json: false,
    intro: (title) => write(`${styleText("gray", S_BAR_START)}  ${title}\n`),
    outro: (message) => write(`${bar()}\n${styleText("gray", S_BAR_END)}  ${message}\n\n`),
    info: (m) => logLines(forLog(m), styleText("blue", S_INFO)),
    success: (m) => logLines(forLog(m), styleText("green", S_SUCCESS)),
    warn: (m) => logLines(forLog(m), styleText("yellow", S_WARN)),
    error: (m) => logLines(forLog(m), styleText("red", S_ERROR)),
    note: (m, title) => note(forNote(m), title),
    spinner: (message) => {
      if (!process.stdout.isTTY) {
        logLines(forLog(message), styleText("green", S_STEP_SUBMIT));
        return { stop: (m) => logLines(forLog(m), styleText("green", S_SUCCESS)), clear: () => {} };
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
  out.write(`${bar()}\n${HIDE_CURSOR}`);
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
      out.write([`${symbol}  ${first}`, ...rest.map((line) => `${bar()}  ${line}`)].join("\n") + "\n");
    }
  };
  return {
    stop: (m) => end(styleText("green", S_STEP_SUBMIT), m),
    clear: () => end(),
  };
}
