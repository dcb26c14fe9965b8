// The one shape every command's --json output takes when the command failed:
// `{ ok: false, error: { message, fix? } }` (schemas/error-report.schema.json). A command may add
// its own fields beside it (setup's dryRun, uninstall's steps), never change these two.

export interface ErrorDetail {
  message: string;
  /** what to run or do about it */
  fix?: string;
}

export function errorDetail(message: string, fix?: string): ErrorDetail {
  return { message, ...(fix ? { fix } : {}) };
}

export function errorReport(message: string, fix?: string): { ok: false; error: ErrorDetail } {
  return { ok: false, error: errorDetail(message, fix) };
}

/** Prints the error document on stdout, where a script reading --json output looks. */
export function writeErrorReport(message: string, fix?: string, extra: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ ...errorReport(message, fix), ...extra }, null, 2)}\n`);
}
