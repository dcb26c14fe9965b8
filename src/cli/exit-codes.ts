// Exit codes, and the one place an error's kind becomes one.
import { GatewayError } from "../core/errors.ts";

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_CANCELLED = 130;

/** usage 2, cancelled 130, anything else 1 */
export function exitCodeFor(error: unknown): number {
  if (!(error instanceof GatewayError)) return EXIT_FAILED;
  return error.kind === "usage" ? EXIT_USAGE : error.kind === "cancelled" ? EXIT_CANCELLED : EXIT_FAILED;
}
