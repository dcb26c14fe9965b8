// Standard output whose reader may be gone (`gateway-setup --help | head -1`, a closed pipe): what
// is left to say is dropped, and that is no error.
import { writeSync } from "node:fs";

/** `stream` with a handler that drops EPIPE (a reader that went away) and rethrows any other error. */
export function ignoreClosedReader(stream: NodeJS.WriteStream): NodeJS.WriteStream {
  return stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
  });
}

/**
 * Writes `text` to standard output's file descriptor, not through process.stdout: making that
 * stream loads node's stream code (~0.6 ms of a push, a tenth of node's own start for --help). A
 * pipe that cannot take it all at once (EAGAIN) gets the rest through process.stdout, which waits
 * for it. Not to be mixed with process.stdout in one run: the two would not keep their order.
 */
export function writeToStandardOutput(text: string): void {
  const bytes = Buffer.from(text);
  let written = 0;
  try {
    while (written < bytes.length) written += writeSync(1, bytes, written);
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code === "EPIPE") return;
    if (code !== "EAGAIN") throw error;
    ignoreClosedReader(process.stdout).write(bytes.subarray(written));
  }
}
