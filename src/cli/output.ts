// Where the CLI's words go. Human mode talks through clack on the terminal (human-output.ts, loaded
// only then); JSON mode keeps stdout for the one JSON document and stays silent otherwise.

export interface Spinner {
  stop(message: string): void;
  /** removes the spinner line: what follows says how it went */
  clear(): void;
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

/** JSON mode: nothing but the document, which carries what a person would have been warned about (`warnings`). */
export function createJsonOutput(write: (text: string) => void = (t) => process.stdout.write(t)): Output {
  const quiet = () => {};
  const warnings: string[] = [];
  return {
    json: true,
    intro: quiet,
    outro: quiet,
    info: quiet,
    success: quiet,
    warn: (message) => warnings.push(message),
    error: quiet,
    note: quiet,
    spinner: () => ({ stop: quiet, clear: quiet }),
    document: (value) => write(JSON.stringify(isRecord(value) ? { ...value, warnings } : value, null, 2) + "\n"),
  };
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);
