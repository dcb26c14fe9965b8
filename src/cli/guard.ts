// What every command runs under, whichever way it was parsed (src/cli/main.ts, quick-args.ts).
import { ignoreClosedReader } from "./closed-reader.ts";
import { writeErrorReport } from "./json-error.ts";

/** Runs a command: a reader that goes away is no error, and an unexpected one is reported (exit 1). */
export async function guardedRun(args: readonly string[], run: () => Promise<void>): Promise<void> {
  keepWorkingWhenOutputCloses();
  try {
    await run();
  } catch (error) {
    console.error(`gateway-setup: ${(error as Error).stack ?? error}`);
    if (args.includes("--json")) writeErrorReport(`unexpected error: ${(error as Error).message}`, "the stack trace is on standard error; please report it");
    process.exitCode = 1;
  }
}

/**
 * A reader that goes away (`gateway-setup --yes | head -3`, a closed terminal pipe) must not stop
 * an install halfway with an unhandled EPIPE: what is left to say is dropped, the work (and, if it
 * fails, its rollback) runs to the end, and the exit code still tells how it went. A stream gets
 * its handler when it is first used: node makes process.stderr only then, and making it for a push
 * that says nothing there costs ~2 ms in a terminal.
 */
function keepWorkingWhenOutputCloses(): void {
  for (const name of ["stdout", "stderr"] as const) {
    const made = Object.getOwnPropertyDescriptor(process, name);
    if (!made?.get || !made.configurable) {
      ignoreClosedReader(process[name]);
      continue;
    }
    const make = made.get;
    Object.defineProperty(process, name, {
      ...made,
      get() {
        Object.defineProperty(process, name, made);
        return ignoreClosedReader(make.call(process));
      },
    });
  }
}
