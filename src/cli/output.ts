// Where the CLI's words go. Human mode talks through clack on the terminal; JSON mode keeps stdout
// for the one JSON document and stays silent otherwise.
import * as clack from "@clack/prompts";

export interface Spinner {
  stop(message: string): void;
  fail(message: string): void;
}

export interface Output {
  readonly json: boolean;
  intro(title: string): void;
  outro(message: string): void;
  info(message: string): void;
  success(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  note(message: string, title?: string): void;
  spinner(message: string): Spinner;
  /** the final JSON document (JSON mode only) */
  document(value: unknown): void;
}

export function createHumanOutput(): Output {
  return {
    json: false,
    intro: (title) => clack.intro(title),
    outro: (message) => clack.outro(message),
    info: (m) => clack.log.info(m),
    success: (m) => clack.log.success(m),
    warn: (m) => clack.log.warn(m),
    error: (m) => clack.log.error(m),
    note: (m, title) => clack.note(m, title),
    spinner: (message) => {
      if (!process.stdout.isTTY) {
        clack.log.step(message);
        return { stop: (m) => clack.log.success(m), fail: (m) => clack.log.error(m) };
      }
      const s = clack.spinner();
      s.start(message);
      return { stop: (m) => s.stop(m), fail: (m) => s.error(m) };
    },
    document: () => {},
  };
}

export function createJsonOutput(write: (text: string) => void = (t) => process.stdout.write(t)): Output {
  const quiet = () => {};
  return {
    json: true,
    intro: quiet,
    outro: quiet,
    info: quiet,
    success: quiet,
    warn: quiet,
    error: quiet,
    note: quiet,
    spinner: () => ({ stop: quiet, fail: quiet }),
    document: (value) => write(JSON.stringify(value, null, 2) + "\n"),
  };
}
